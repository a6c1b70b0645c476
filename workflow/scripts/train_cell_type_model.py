from pathlib import Path

import torch

from stpath import logs
from stpath.celltypes.labels import attach_labels
from stpath.celltypes.models import fit
from stpath.celltypes.settings import CellTypeSettings
from stpath.device import torch_device
from stpath.genes.files import read_gene_set
from stpath.training.checkpoint import save_finished_run
from stpath.training.data import load_spots

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = CellTypeSettings.from_config(snakemake.params.models)
samples = snakemake.params.samples
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
device = torch_device(settings.accelerator)
data = load_spots(
    samples, snakemake.input.patches, snakemake.input.expression, genes, target_sum=settings.gene_target_sum
)
data = attach_labels(data, dict(zip(samples, snakemake.input.labels)), settings.labels)
workdir = Path(snakemake.params.workdir)
history = fit(
    snakemake.wildcards.cell_model,
    settings,
    data,
    device,
    workdir,
    snakemake.config["training"]["checkpoint_minutes"],
    tuple(snakemake.params.val_samples),
)
save_finished_run(history, workdir, snakemake.output.history, snakemake.output.checkpoint)
