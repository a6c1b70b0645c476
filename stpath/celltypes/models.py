"""Fit, load and apply the cell-type models (CUCA, its image-only ablation with the molecule
branch off, the linear probe), on the same encoder settings and labels; the registry says which
model is which."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..ingest.folds import samples_in
from ..ingest.ingested import read_spatial
from ..models import registry
from ..predictions import SpotPrediction
from ..training.checkpoint import fingerprint, load_weights, write_best_weights
from ..training.data import SpotSet, load_spots, split_validation
from ..training.infer import embed_images
from ..training.loop import seed_everything, train
from .labels import attach_labels
from .probe import fit_probe, set_head
from .settings import CellTypeSettings

log = logging.getLogger(__name__)


def build(name: str, n_types: int, n_genes: int, settings: CellTypeSettings) -> nn.Module:
    return registry.get(name, registry.CELL_TYPES).build(settings, n_genes, n_types)


def fit(
    name: str,
    settings: CellTypeSettings,
    data: SpotSet,
    device: torch.device,
    workdir: Path,
    checkpoint_minutes: float = 5.0,
    val_samples: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Train one model on ``data`` (images, gene input, labels); ``workdir/best.pt`` holds the
    selected weights afterwards. Returns the history (per epoch; per penalty for the probe)."""
    seed_everything(settings.train.seed)
    model = build(name, len(data.label_names), len(data.genes), settings)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info(
        "%s: %.2f M parameters, %.2f M trained", name, sum(p.numel() for p in model.parameters()) / 1e6, n_train / 1e6
    )
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
    features = embed_images(model.encoder, data.images, device).cpu().numpy()
    train_idx, val_idx = split_validation(data.sample, settings.train.val_fraction, settings.train.seed, val_samples)
    weight, bias, history = fit_probe(
        features, data.labels.numpy(), train_idx, val_idx, list(settings.probe_alphas), settings.train.seed
    )
    set_head(model.head, weight, bias)
    write_best_weights(workdir, model.state_dict())
    return history


def load(
    name: str, settings: CellTypeSettings, n_types: int, n_genes: int, checkpoint: Path, device: torch.device
) -> nn.Module:
    return load_weights(build(name, n_types, n_genes, settings), checkpoint, device)


def below_zero(values: np.ndarray) -> dict:
    """What clipping at 0 changes in a prediction (recorded in ``uns``): abundances are cell
    counts, and a regression head can undershoot zero."""
    below = values < 0
    return {
        "clipped_below_zero": int(below.sum()),
        "clipped_share": float(below.mean()) if values.size else 0.0,
        "min_before_clipping": float(values.min()) if values.size else 0.0,
    }


def clip_abundances(values: np.ndarray) -> tuple[np.ndarray, dict]:
    """The prediction clipped at 0 (whole-slide maps) and what was clipped."""
    return np.maximum(values, 0), below_zero(values)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 256) -> np.ndarray:
    """Abundances of every patch (uint8 [N, H, W, 3]) from the image alone."""
    return embed_images(model.predict, images, device, batch).cpu().numpy()


def predict_held_out(
    name: str,
    settings: CellTypeSettings,
    genes: list[str],
    folds: pd.DataFrame,
    checkpoints: dict[int, Path],
    patches: dict[str, Path],
    expression: dict[str, Path],
    labels: dict[str, Path],
    device: torch.device,
) -> Iterator[SpotPrediction]:
    """The abundances of every slide a fold holds out, predicted from the image by that fold's
    model (``checkpoints``, loaded once per fold), next to the slide's labels. ``patches``,
    ``expression`` and ``labels`` map every sample to its files."""
    for fold, checkpoint in checkpoints.items():
        test = samples_in(folds, fold, "test")
        spots = load_spots(
            test,
            [patches[s] for s in test],
            [expression[s] for s in test],
            genes,
            target_sum=settings.gene_target_sum,
            scored=True,
        )
        spots = attach_labels(spots, {s: labels[s] for s in test}, settings.labels)
        model = load(name, settings, len(spots.label_names), len(genes), checkpoint, device)
        predicted = predict(model, spots.images, device)
        for sample in test:
            rows = spots.sample == sample
            barcodes = spots.barcode[rows]
            values = predicted[rows]  # raw: the clipped view is derived where it is used (``metrics.clipped``)
            yield SpotPrediction(
                name,
                int(fold),
                sample,
                pd.DataFrame(values, index=barcodes, columns=spots.label_names),
                pd.DataFrame(spots.labels[torch.from_numpy(rows)].numpy(), index=barcodes, columns=spots.label_names),
                settings.labels.name,
                read_spatial(labels[sample], barcodes),
                {"labels": vars(settings.labels), **below_zero(values)},
                settings.train.seed,
            )
