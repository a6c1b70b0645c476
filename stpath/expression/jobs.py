"""The expression branch's lifecycle jobs (``stpath.training.job.ModelJob`` in, files out): train a
split, predict the held-out spots, map the whole slides, bundle the final model."""

from __future__ import annotations

import numpy as np
import torch

from ..device import torch_device
from ..genes.files import read_gene_set
from ..predictions import write_spot_prediction
from ..training.data import load_expression, load_spots
from ..training.job import ModelJob, map_whole_slides
from ..wsi.scale import ImageScale
from .models import fit, predict_held_out
from .settings import ExpressionSettings
from .wholeslide import MAP_PANELS, from_run, make_bundle, map_genes, predict_tiles


def train(job: ModelJob) -> None:
    settings = ExpressionSettings.from_config(job.settings)
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    device = torch_device(settings.accelerator)
    data = load_spots(
        job.params["samples"], job.input["patches"], job.input["expression"], genes, pin=device.type == "cuda"
    )
    job.fit_and_save(fit, settings, data, device)


def predict(job: ModelJob) -> None:
    settings = ExpressionSettings.from_config(job.settings)
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    outputs = job.prediction_paths()
    for prediction in predict_held_out(job.model, settings, genes, *job.held_out(), torch_device(settings.accelerator)):
        write_spot_prediction(prediction, outputs[prediction.sample])


def _map_columns(settings: ExpressionSettings, genes: list[str], expression: torch.Tensor, genes_path) -> list[str]:
    return map_genes(
        genes, list(settings.markers), expression.numpy(), settings.eval_genes, list(settings.map_genes), genes_path
    )


def map_slides(job: ModelJob) -> None:
    settings = ExpressionSettings.from_config(job.settings)
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    device = torch_device(settings.accelerator)
    # every labelled spot's expression, read once; each run's keys are its training slides' rows
    expression, sample_of = load_expression(
        job.params["labelled"], job.input["patches"], job.input["expression"], genes
    )
    columns = _map_columns(settings, genes, expression, job.input["genes"])
    scale = ImageScale.from_config(job.params["scale"])

    def load(checkpoint, train):
        keys = expression[torch.from_numpy(np.isin(sample_of, train))]
        return from_run(job.model, settings, checkpoint, genes, keys, device)

    map_whole_slides(
        job,
        load,
        lambda predictor, tiles, sample, split, details: predict_tiles(
            predictor, tiles, columns, device, scale, sample=sample, split=split, details=details
        ),
        lambda _: columns[:MAP_PANELS],
        "predicted expression (log1p)",
        from_zero=False,
    )


def bundle(job: ModelJob) -> None:
    settings = ExpressionSettings.from_config(job.settings)
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    samples = job.params["samples"]
    expression, _ = load_expression(samples, job.input["patches"], job.input["expression"], genes)
    columns = _map_columns(settings, genes, expression, job.input["genes"])
    predictor = from_run(
        job.model, settings, job.input["checkpoint"], genes, expression, torch_device(settings.accelerator)
    )
    make_bundle(predictor, settings, job.input["checkpoint"], columns=columns, **job.bundle_fields())
