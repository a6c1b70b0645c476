"""Fit, load and apply the expression models (CMRCNet, its BLEEP ablation, direct regression),
all on the same encoder settings; the registry says which model is which."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..ingest.folds import samples_in, training_samples
from ..ingest.ingested import read_spatial
from ..models import registry
from ..models.retrieval import retrieve
from ..predictions import SpotPrediction
from ..training.checkpoint import fingerprint, load_weights, write_best_weights
from ..training.data import SpotSet, load_expression, load_spots
from ..training.infer import embed_images
from ..training.loop import seed_everything, train
from .hest import fit_hest_probe
from .settings import ExpressionSettings

log = logging.getLogger(__name__)


def build(name: str, n_genes: int, settings: ExpressionSettings) -> nn.Module:
    return registry.get(name, registry.EXPRESSION).build(settings, n_genes, n_genes)


def fit(
    name: str,
    settings: ExpressionSettings,
    data: SpotSet,
    device: torch.device,
    workdir: Path,
    checkpoint_minutes: float = 5.0,
    val_samples: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Train one model on ``data``; ``workdir/best.pt`` holds the selected weights afterwards.
    Returns the per-epoch history (for the frozen-encoder models, one row: nothing is selected,
    every training spot, validation slides included, is fitted or kept as a key)."""
    seed_everything(settings.train.seed)
    model = build(name, len(data.genes), settings)
    log.info("%s: %.1f M parameters", name, sum(p.numel() for p in model.parameters()) / 1e6)
    if not registry.get(name).closed_form:
        return train(
            model,
            data,
            settings.train,
            device,
            workdir,
            fingerprint(name, settings, data, val_samples),
            checkpoint_minutes,
            val_samples,
        )
    model.to(device).eval()
    tick = time.perf_counter()
    embeddings = embed_images(model.embed_images, data.images, device)
    if registry.get(name).closed_form == "ridge":
        weight, bias = fit_hest_probe(
            embeddings.cpu().numpy(), data.expression.numpy(), settings.frozen.pca_dim, settings.train.seed
        )
        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(weight))
            model.head.bias.copy_(torch.from_numpy(bias))
    else:
        model.set_keys(embeddings, data.expression)
    write_best_weights(workdir, model.state_dict())
    seconds = time.perf_counter() - tick
    log.info("%s: %d training spots embedded by the frozen encoder and fitted in %.1f s", name, len(data), seconds)
    return pd.DataFrame([{"epoch": 1, "spots": len(data), "compute_seconds": seconds, "wall_seconds": seconds}])


def load(name: str, settings: ExpressionSettings, n_genes: int, checkpoint: Path, device: torch.device) -> nn.Module:
    return load_weights(build(name, n_genes, settings), checkpoint, device)


@torch.no_grad()
def predict(
    name: str,
    model: nn.Module,
    train_expression: torch.Tensor | None,
    test_images: torch.Tensor,
    k: int,
    device: torch.device,
) -> np.ndarray:
    """Normalised expression of every test spot: retrieval over all training spots (train and
    validation; their expression only) for the retrieval models, the regression head otherwise."""
    if registry.get(name).retrieval:
        train_expression = train_expression.to(device)
        keys = model.embed_expression(train_expression).float()
        query = embed_images(model.embed_images, test_images, device)
        return retrieve(query, keys, train_expression, k).cpu().numpy()
    return embed_images(model.predict, test_images, device).cpu().numpy()


def predict_held_out(
    name: str,
    settings: ExpressionSettings,
    genes: list[str],
    folds: pd.DataFrame,
    checkpoints: dict[int, Path],
    patches: dict[str, Path],
    expression: dict[str, Path],
    device: torch.device,
) -> Iterator[SpotPrediction]:
    """The prediction of every slide a fold holds out, by that fold's model (``checkpoints``), next
    to its measured expression; each model is loaded, and its training spots' expression embedded,
    once per fold. ``patches`` and ``expression`` map every sample to its files."""
    for fold, checkpoint in checkpoints.items():
        train, test = training_samples(folds, f"fold{fold}", []), samples_in(folds, fold, "test")  # keys: train and val
        keys = None
        if registry.get(name).retrieval:  # the training spots' expression (no images needed)
            keys, _ = load_expression(train, [patches[s] for s in train], [expression[s] for s in train], genes)
        spots = load_spots(test, [patches[s] for s in test], [expression[s] for s in test], genes, scored=True)
        model = load(name, settings, len(genes), checkpoint, device)
        predicted = predict(name, model, keys, spots.images, settings.retrieval_k, device)
        for sample in test:
            rows = spots.sample == sample
            barcodes = spots.barcode[rows]
            yield SpotPrediction(
                name,
                int(fold),
                sample,
                pd.DataFrame(predicted[rows], index=barcodes, columns=genes),
                pd.DataFrame(spots.expression[torch.from_numpy(rows)].numpy(), index=barcodes, columns=genes),
                "measured",
                read_spatial(expression[sample], barcodes),
                {"train_samples": train},
                settings.train.seed,
            )
