from pathlib import Path

import torch

from stpath import logs
from stpath.abundance.labels import attach_labels
from stpath.abundance.models import fit
from stpath.device import torch_device
from stpath.training.data import load_spots, model_genes
from stpath.training.loop import save_finished_run

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.models
samples = snakemake.params.samples
genes = model_genes(snakemake.input.genes, cfg["gene_set"])
device = torch_device(cfg["accelerator"])
data = load_spots(samples, snakemake.input.patches, snakemake.input.expression, genes)
data = attach_labels(data, dict(zip(samples, snakemake.input.labels)), **cfg["labels"])
workdir = Path(snakemake.params.workdir)
history = fit(snakemake.wildcards.cell_model, cfg, data, device, workdir)
save_finished_run(history, workdir, snakemake.output.history, snakemake.output.checkpoint)
