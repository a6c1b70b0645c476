"""Expression on every tissue tile of a slide, by a model of this run (a fold's or the final one)
or by a bundle of another run: CMRCNet and BLEEP by retrieval over their training spots, direct
regression by its head. Also makes the expression models' bundles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..bundles import NORMALISATION, Bundle, read_keys, settings_as, settings_dict, write_bundle
from ..errors import InputError
from ..models import registry
from ..models.retrieval import retrieve
from ..predictions import TilePrediction
from ..training.infer import infer_tiles
from ..wsi.scale import ImageScale
from .metrics import hvg_indices
from .models import load
from .settings import ExpressionSettings

MAP_PANELS = 12  # genes drawn on a whole-slide figure (the AnnData holds every map gene)


@dataclass
class ExpressionPredictor:
    """A trained expression model ready for images: the model, the genes it predicts and, for
    the retrieval models, its keys (the training spots' expression embeddings and expression)."""

    name: str
    model: nn.Module
    genes: list[str]
    k: int
    keys: torch.Tensor | None = None
    key_expression: torch.Tensor | None = None

    def for_genes(self, columns: list[str]):
        """A function from a batch of model inputs to the prediction of ``columns``."""
        idx = torch.as_tensor([self.genes.index(g) for g in columns])
        if self.keys is None:
            return lambda x: self.model.predict(x)[:, idx.to(x.device)]
        selected = self.key_expression[:, idx.to(self.key_expression.device)]
        return lambda x: retrieve(self.model.embed_images(x), self.keys, selected, self.k)


@torch.no_grad()
def from_run(
    name: str,
    settings: ExpressionSettings,
    checkpoint: Path,
    genes: list[str],
    train_expression: torch.Tensor,
    device: torch.device,
) -> ExpressionPredictor:
    """The model of a training run of this workflow; ``train_expression`` are its training spots'
    expression (the retrieval models' keys; unused by direct regression)."""
    model = load(name, settings, len(genes), checkpoint, device)
    predictor = ExpressionPredictor(name, model, list(genes), settings.retrieval_k)
    if registry.get(name).retrieval:
        predictor.key_expression = train_expression.to(device)
        predictor.keys = model.embed_expression(predictor.key_expression).float()
    return predictor


def from_bundle(bundle: Bundle, device: torch.device) -> ExpressionPredictor:
    settings = settings_as(bundle, ExpressionSettings)
    model = load(bundle.model, settings, len(bundle.outputs), bundle.weights, device)
    predictor = ExpressionPredictor(bundle.model, model, list(bundle.outputs), settings.retrieval_k)
    if bundle.retrieval:
        keys, expression = read_keys(bundle)
        predictor.keys, predictor.key_expression = (
            torch.from_numpy(keys).to(device),
            torch.from_numpy(expression).to(device),
        )
    return predictor


def map_genes(
    genes: list[str], markers: list[str], train_expression: np.ndarray, n: int, requested: list[str] = (), where=None
) -> list[str]:
    """The genes predicted on every tile: ``requested`` when given (each must be one the models
    learn), else the markers among the learnt genes, then the ``n`` most variable training genes."""
    if requested:
        missing = [g for g in requested if g not in genes]
        if missing:
            raise InputError(
                where,
                f"expression_models.map_genes has {len(missing)} gene(s) the models do not learn, e.g. {missing[:3]}",
                "choose genes of the models' gene set (expression/genes.tsv, column of expression_models.gene_set), or empty map_genes",
            )
        return list(dict.fromkeys(requested))
    learnt = [g for g in dict.fromkeys(markers) if g in genes]
    variable = [genes[i] for i in hvg_indices(np.asarray(train_expression), len(genes)) if genes[i] not in learnt]
    return learnt + variable[:n]


def predict_tiles(
    predictor: ExpressionPredictor,
    tiles_path,
    columns: list[str],
    device: torch.device,
    scale: ImageScale,
    *,
    sample: str,
    split: str,
    details: dict | None = None,
    chunk: int = 512,
) -> TilePrediction:
    """Expression of ``columns`` on every tile of ``sample`` by the ``split`` model."""
    values, rate, grid = infer_tiles(predictor.for_genes(columns), tiles_path, len(columns), device, scale, chunk)
    expression = pd.DataFrame(values, index=[f"tile{i}" for i in range(len(grid))], columns=columns)
    return TilePrediction(
        predictor.name,
        split,
        sample,
        expression,
        grid.centres,
        grid.side_level0,
        rate,
        grid.attrs,
        {"values": "normalised expression (log1p)", **(details or {})},
    )


def make_bundle(
    predictor: ExpressionPredictor,
    settings: ExpressionSettings,
    checkpoint: Path,
    *,
    dataset: str,
    training_samples: list[str],
    scale: ImageScale,
    stain: dict,
    columns: list[str],
    folder,
) -> Bundle:
    """Bundle a final model (its keys included) at ``folder``."""
    encoder = settings.encoder
    bundle = Bundle(
        model=predictor.name,
        task=registry.EXPRESSION,
        dataset=dataset,
        settings=settings_dict(settings),
        input_genes=predictor.genes,
        outputs=predictor.genes,
        map_genes=list(columns),
        normalisation=NORMALISATION,
        encoder={
            "name": encoder.name or "CMRCNet ViT (from scratch)",
            "weights_file": encoder.weights,
            "img_size": encoder.img_size,
        },
        scale=scale,
        stain=stain,
        training_samples=list(training_samples),
        retrieval=predictor.keys is not None,
    )
    keys = None if predictor.keys is None else (predictor.keys.cpu().numpy(), predictor.key_expression.cpu().numpy())
    write_bundle(folder, bundle, checkpoint, keys)
    return bundle
