"""The cell-type branch's lifecycle jobs (``stpath.training.job.ModelJob`` in, files out): train a
split, predict the held-out spots, map the whole slides, bundle the final model."""

from __future__ import annotations

from ..deconvolution.output import read_cell_types
from ..device import torch_device
from ..genes.files import read_gene_set
from ..predictions import write_spot_prediction
from ..training.data import load_spots
from ..training.job import ModelJob, map_whole_slides
from ..wsi.scale import ImageScale
from .figures import major_types
from .labels import attach_labels
from .models import fit, predict_held_out
from .settings import CellTypeSettings
from .wholeslide import from_run, make_bundle, predict_tiles


def train(job: ModelJob) -> None:
    settings = CellTypeSettings.from_config(job.settings)
    samples = job.params["samples"]
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    device = torch_device(settings.accelerator)
    data = load_spots(
        samples, job.input["patches"], job.input["expression"], genes, target_sum=settings.gene_target_sum
    )
    data = attach_labels(data, dict(zip(samples, job.input["labels"])), settings.labels)
    job.fit_and_save(fit, settings, data, device)


def predict(job: ModelJob) -> None:
    settings = CellTypeSettings.from_config(job.settings)
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    labels = dict(zip(job.params["samples"], job.input["labels"]))
    outputs = job.prediction_paths()
    for prediction in predict_held_out(
        job.model, settings, genes, *job.held_out(), labels, torch_device(settings.accelerator)
    ):
        write_spot_prediction(prediction, outputs[prediction.sample])


def map_slides(job: ModelJob) -> None:
    settings = CellTypeSettings.from_config(job.settings)
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    cell_types = read_cell_types(job.input["labels"][0])
    device = torch_device(settings.accelerator)
    scale = ImageScale.from_config(job.params["scale"])
    map_whole_slides(
        job,
        lambda checkpoint, _: from_run(job.model, settings, checkpoint, genes, cell_types, device),
        lambda predictor, tiles, sample, split, details: predict_tiles(
            predictor, tiles, device, scale, sample=sample, split=split, details=details
        ),
        lambda predicted: major_types(predicted, settings.map_types),
        "cell-type abundance",
    )


def bundle(job: ModelJob) -> None:
    settings = CellTypeSettings.from_config(job.settings)
    genes = read_gene_set(job.input["genes"], settings.gene_set)
    predictor = from_run(
        job.model,
        settings,
        job.input["checkpoint"],
        genes,
        read_cell_types(job.input["labels"][0]),
        torch_device("cpu"),
    )
    make_bundle(predictor, settings, job.input["checkpoint"], **job.bundle_fields())
