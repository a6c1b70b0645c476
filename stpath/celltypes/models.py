"""Fit, load and apply the cell-type models (CUCA, its image-only ablation with the molecule
branch off, the linear probe), on the same encoder settings and labels; the registry says which
model is which."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..models import registry
from ..training.checkpoint import fingerprint, load_weights, write_best_weights
from ..training.data import SpotSet, split_validation
from ..training.infer import embed_images
from ..training.loop import seed_everything, train
from .probe import fit_probe, set_head
from .settings import CellTypeSettings

log = logging.getLogger(__name__)


def build(name: str, n_types: int, n_genes: int, settings: CellTypeSettings) -> nn.Module:
    return registry.get(name, registry.CELL_TYPES).build(settings, n_genes, n_types)


def fit(name: str, settings: CellTypeSettings, data: SpotSet, device: torch.device, workdir: Path, checkpoint_minutes: float = 5.0) -> pd.DataFrame:
    """Train one model on ``data`` (images, gene input, labels); ``workdir/best.pt`` holds the
    selected weights afterwards. Returns the history (per epoch; per penalty for the probe)."""
    seed_everything(settings.train.seed)
    model = build(name, len(data.label_names), len(data.genes), settings)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("%s: %.2f M parameters, %.2f M trained", name, sum(p.numel() for p in model.parameters()) / 1e6, n_train / 1e6)
    if not registry.get(name).closed_form:
        return train(model, data, settings.train, device, workdir, fingerprint(name, settings, data), checkpoint_minutes)
    model.to(device).eval()
    features = embed_images(model.encoder, data.images, device).cpu().numpy()
    train_idx, val_idx = split_validation(data.sample, settings.train.val_fraction, settings.train.seed)
    weight, bias, history = fit_probe(features, data.labels.numpy(), train_idx, val_idx, list(settings.probe_alphas), settings.train.seed)
    set_head(model.head, weight, bias)
    write_best_weights(workdir, model.state_dict())
    return history


def load(name: str, settings: CellTypeSettings, n_types: int, n_genes: int, checkpoint: Path, device: torch.device) -> nn.Module:
    return load_weights(build(name, n_types, n_genes, settings), checkpoint, device)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 256) -> np.ndarray:
    """Abundances of every patch (uint8 [N, H, W, 3]) from the image alone."""
    return embed_images(model.predict, images, device, batch).cpu().numpy()
