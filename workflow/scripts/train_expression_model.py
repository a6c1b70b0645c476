from pathlib import Path

import torch

from stpath import logs
from stpath.device import torch_device
from stpath.training.data import load_spots, model_genes
from stpath.training.loop import save_finished_run
from stpath.training.models import fit

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.models
genes = model_genes(snakemake.input.genes, cfg["gene_set"])
device = torch_device(cfg["accelerator"])
data = load_spots(snakemake.params.samples, snakemake.input.patches, snakemake.input.expression, genes, pin=device.type == "cuda")
workdir = Path(snakemake.params.workdir)
history = fit(snakemake.wildcards.model, cfg, data, device, workdir)
save_finished_run(history, workdir, snakemake.output.history, snakemake.output.checkpoint)
