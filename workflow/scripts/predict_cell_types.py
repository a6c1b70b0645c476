import pandas as pd
import torch

from stpath import logs
from stpath.celltypes.models import predict_held_out
from stpath.celltypes.settings import CellTypeSettings
from stpath.device import torch_device
from stpath.genes.files import read_gene_set
from stpath.predictions import write_spot_prediction

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = CellTypeSettings.from_config(snakemake.params.models)
samples = snakemake.params.samples
outputs = dict(zip(samples, snakemake.output))
predictions = predict_held_out(
    snakemake.wildcards.cell_model,
    settings,
    read_gene_set(snakemake.input.genes, settings.gene_set),
    pd.DataFrame(snakemake.params.folds),
    dict(zip(snakemake.params.fold_ids, snakemake.input.checkpoints)),
    dict(zip(samples, snakemake.input.patches)),
    dict(zip(samples, snakemake.input.expression)),
    dict(zip(samples, snakemake.input.labels)),
    torch_device(settings.accelerator),
)
for prediction in predictions:
    write_spot_prediction(prediction, outputs[prediction.sample])
