"""Fit, load and apply the expression models (CMRCNet, its BLEEP ablation, direct regression),
all on the same encoder settings; the registry says which model is which."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..models import registry
from ..training.checkpoint import fingerprint, load_weights
from ..training.data import SpotSet
from ..training.infer import embed_images
from ..training.loop import seed_everything, train
from .retrieval import retrieve
from .settings import ExpressionSettings

log = logging.getLogger(__name__)


def build(name: str, n_genes: int, settings: ExpressionSettings) -> nn.Module:
    return registry.get(name, registry.EXPRESSION).build(settings, n_genes, n_genes)


def fit(name: str, settings: ExpressionSettings, data: SpotSet, device: torch.device, workdir: Path, checkpoint_minutes: float = 5.0) -> pd.DataFrame:
    """Train one model on ``data``; ``workdir/best.pt`` holds the selected weights afterwards.
    Returns the per-epoch history."""
    seed_everything(settings.train.seed)
    model = build(name, len(data.genes), settings)
    log.info("%s: %.1f M parameters", name, sum(p.numel() for p in model.parameters()) / 1e6)
    return train(model, data, settings.train, device, workdir, fingerprint(name, settings, data), checkpoint_minutes)


def load(name: str, settings: ExpressionSettings, n_genes: int, checkpoint: Path, device: torch.device) -> nn.Module:
    return load_weights(build(name, n_genes, settings), checkpoint, device)


@torch.no_grad()
def predict(name: str, model: nn.Module, train_expression: torch.Tensor | None, test_images: torch.Tensor, k: int, device: torch.device) -> np.ndarray:
    """Normalised expression of every test spot: retrieval over all training spots (train and
    validation; their expression only) for the retrieval models, the regression head otherwise."""
    if registry.get(name).retrieval:
        train_expression = train_expression.to(device)
        keys = model.embed_expression(train_expression).float()
        query = embed_images(model.embed_images, test_images, device)
        return retrieve(query, keys, train_expression, k).cpu().numpy()
    return embed_images(model.predict, test_images, device).cpu().numpy()
