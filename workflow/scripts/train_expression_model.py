from pathlib import Path

import torch

from stpath import logs
from stpath.device import torch_device
from stpath.expression.models import fit
from stpath.expression.settings import ExpressionSettings
from stpath.genes.files import read_gene_set
from stpath.training.checkpoint import save_finished_run
from stpath.training.data import load_spots

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = ExpressionSettings.from_config(snakemake.params.models)
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
device = torch_device(settings.accelerator)
data = load_spots(
    snakemake.params.samples, snakemake.input.patches, snakemake.input.expression, genes, pin=device.type == "cuda"
)
workdir = Path(snakemake.params.workdir)
history = fit(
    snakemake.wildcards.model,
    settings,
    data,
    device,
    workdir,
    snakemake.config["training"]["checkpoint_minutes"],
    tuple(snakemake.params.val_samples),
)
save_finished_run(history, workdir, snakemake.output.history, snakemake.output.checkpoint)
