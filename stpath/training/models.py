"""Build, train and apply the expression models from the config: CMRCNet, its BLEEP ablation
(reconstruction off) and direct regression, all on the same encoder settings."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.cmrcnet import CMRCNet, CMRCNetConfig
from ..models.direct import DirectRegression
from ..models.encoders import EncoderConfig
from .data import SpotSet
from .loop import TrainConfig, seed_everything, train
from .retrieval import embed_images, retrieve

log = logging.getLogger(__name__)

MODELS = ("cmrcnet", "bleep", "direct")
RETRIEVAL = ("cmrcnet", "bleep")


def build(name: str, n_genes: int, cfg: dict) -> nn.Module:
    encoder = EncoderConfig(**cfg["encoder"])
    if name == "direct":
        return DirectRegression(n_genes, encoder)
    if name in RETRIEVAL:
        return CMRCNet(n_genes, CMRCNetConfig(encoder=encoder, reconstruction=name == "cmrcnet", **cfg["cmrcnet"]))
    raise ValueError(f"unknown model {name!r}; use one of {MODELS}")


def fingerprint(name: str, cfg: dict, data: SpotSet) -> str:
    """What a resumable checkpoint must match: model, settings, genes, labels and training spots."""
    content = json.dumps([name, cfg, data.genes, data.label_names, sorted(set(data.sample)), len(data)], sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()


def fit(name: str, cfg: dict, data: SpotSet, device: torch.device, workdir: Path):
    train_cfg = TrainConfig(**cfg["train"])
    seed_everything(train_cfg.seed)
    model = build(name, len(data.genes), cfg)
    log.info("%s: %.1f M parameters", name, sum(p.numel() for p in model.parameters()) / 1e6)
    return train(model, data, train_cfg, device, workdir, fingerprint(name, cfg, data))


def load(name: str, cfg: dict, n_genes: int, checkpoint: Path, device: torch.device) -> nn.Module:
    model = build(name, n_genes, cfg)
    model.load_state_dict(torch.load(checkpoint, map_location=device, weights_only=True))
    return model.to(device).eval()


@torch.no_grad()
def predict(name: str, model: nn.Module, train_expression: torch.Tensor | None, test_images: torch.Tensor, k: int, device: torch.device) -> np.ndarray:
    """Normalised expression of every test spot: retrieval over all training spots (train and
    validation; their expression only) for CMRCNet/BLEEP, the regression head for direct regression."""
    if name in RETRIEVAL:
        train_expression = train_expression.to(device)
        keys = model.embed_expression(train_expression).float()
        query = embed_images(model.embed_images, test_images, device)
        return retrieve(query, keys, train_expression, k).cpu().numpy()
    return embed_images(model.predict, test_images, device).cpu().numpy()
