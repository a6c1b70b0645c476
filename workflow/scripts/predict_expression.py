import pandas as pd
import torch

from stpath import logs
from stpath.device import torch_device
from stpath.expression.models import load, predict
from stpath.expression.settings import ExpressionSettings
from stpath.genes.files import read_gene_set
from stpath.ingest.ingested import read_spatial
from stpath.models import registry
from stpath.predictions import SpotPrediction, write_spot_prediction
from stpath.training.data import load_expression, load_spots

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = ExpressionSettings.from_config(snakemake.params.models)
model_name, sample = snakemake.wildcards.model, snakemake.wildcards.sample
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
device = torch_device(settings.accelerator)
keys = None
if registry.get(model_name).retrieval:  # retrieval keys: the training spots' expression (no images needed)
    keys, _ = load_expression(snakemake.params.train_samples, snakemake.input.patches, snakemake.input.expression, genes)
test = load_spots([sample], [snakemake.input.test_patches], [snakemake.input.test_expression], genes)
model = load(model_name, settings, len(genes), snakemake.input.checkpoint, device)
predicted = pd.DataFrame(predict(model_name, model, keys, test.images, settings.retrieval_k, device), index=test.barcode, columns=genes)
measured = pd.DataFrame(test.expression.numpy(), index=test.barcode, columns=genes)
write_spot_prediction(
    SpotPrediction(
        model_name, int(snakemake.params.fold), sample, predicted, measured, "measured",
        read_spatial(snakemake.input.test_expression, test.barcode), {"train_samples": list(snakemake.params.train_samples)},
    ),
    snakemake.output[0],
)
