"""Cell-type abundances on every tissue tile of a slide, by a model of this run (a fold's or the
final one) or by a bundle of another run; read from the tile file in chunks (a slide's tiles need
not fit in memory). Also makes the cell-type models' bundles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ..bundles import Bundle, settings_as, settings_dict, write_bundle
from ..models import registry
from ..predictions import TilePrediction
from ..training.infer import infer_tiles
from ..wsi.scale import ImageScale
from .models import clip_abundances, load
from .settings import CellTypeSettings


@dataclass
class CellTypePredictor:
    """A trained cell-type model ready for images, and the cell types it predicts."""

    name: str
    model: nn.Module
    cell_types: list[str]
    genes: list[str]  # the molecule branch's input genes (they size the model; unused on images)


def from_run(
    name: str,
    settings: CellTypeSettings,
    checkpoint: Path,
    genes: list[str],
    cell_types: list[str],
    device: torch.device,
) -> CellTypePredictor:
    return CellTypePredictor(
        name, load(name, settings, len(cell_types), len(genes), checkpoint, device), list(cell_types), list(genes)
    )


def from_bundle(bundle: Bundle, device: torch.device) -> CellTypePredictor:
    settings = settings_as(bundle, CellTypeSettings)
    model = load(bundle.model, settings, len(bundle.outputs), len(bundle.input_genes), bundle.weights, device)
    return CellTypePredictor(bundle.model, model, list(bundle.outputs), list(bundle.input_genes))


def predict_tiles(
    predictor: CellTypePredictor,
    tiles_path,
    device: torch.device,
    scale: ImageScale,
    *,
    sample: str,
    split: str,
    details: dict | None = None,
    chunk: int = 512,
) -> TilePrediction:
    """Abundances of every tile (tiles x cell types) of ``sample`` by the ``split`` model."""
    values, rate, grid = infer_tiles(
        predictor.model.predict, tiles_path, len(predictor.cell_types), device, scale, chunk
    )
    values, clipped = clip_abundances(values)
    abundance = pd.DataFrame(values, index=[f"tile{i}" for i in range(len(grid))], columns=predictor.cell_types)
    return TilePrediction(
        predictor.name,
        split,
        sample,
        abundance,
        grid.centres,
        grid.side_level0,
        rate,
        grid.attrs,
        {**clipped, **(details or {})},
    )


def make_bundle(
    predictor: CellTypePredictor,
    settings: CellTypeSettings,
    checkpoint: Path,
    *,
    dataset: str,
    training_samples: list[str],
    scale: ImageScale,
    stain: dict,
    folder,
) -> Bundle:
    """Bundle a final model at ``folder``."""
    encoder = settings.cuca.encoder
    bundle = Bundle(
        model=predictor.name,
        task=registry.CELL_TYPES,
        dataset=dataset,
        settings=settings_dict(settings),
        input_genes=predictor.genes,
        outputs=predictor.cell_types,
        map_genes=[],
        normalisation=f"cell types: {settings.labels.name} ({settings.labels.quantity})",
        encoder={
            "name": encoder.name or "ViT (from scratch)",
            "preset": settings.cuca.preset,
            "weights_file": encoder.weights,
            "finetune": settings.cuca.finetune,
            "img_size": encoder.img_size,
        },
        scale=scale,
        stain=stain,
        training_samples=list(training_samples),
        retrieval=False,
    )
    write_bundle(folder, bundle, checkpoint)
    return bundle
