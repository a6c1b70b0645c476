import pandas as pd
import torch

from stpath import logs
from stpath.celltypes.labels import attach_labels
from stpath.celltypes.models import load, predict
from stpath.celltypes.settings import CellTypeSettings
from stpath.device import torch_device
from stpath.genes.files import read_gene_set
from stpath.ingest.ingested import read_spatial
from stpath.predictions import SpotPrediction, write_spot_prediction
from stpath.training.data import load_spots

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = CellTypeSettings.from_config(snakemake.params.models)
model_name, sample = snakemake.wildcards.cell_model, snakemake.wildcards.sample
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
device = torch_device(settings.accelerator)
test = load_spots([sample], [snakemake.input.patches], [snakemake.input.expression], genes)
test = attach_labels(test, {sample: snakemake.input.labels}, settings.labels)
model = load(model_name, settings, len(test.label_names), len(genes), snakemake.input.checkpoint, device)
predicted = pd.DataFrame(predict(model, test.images, device), index=test.barcode, columns=test.label_names)
labels = pd.DataFrame(test.labels.numpy(), index=test.barcode, columns=test.label_names)
write_spot_prediction(
    SpotPrediction(
        model_name, int(snakemake.params.fold), sample, predicted, labels, settings.labels.name,
        read_spatial(snakemake.input.labels, test.barcode), {"labels": vars(settings.labels)},
    ),
    snakemake.output[0],
)
