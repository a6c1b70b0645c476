"""Build, train and apply the cell-type models from the config: CUCA, its image-only ablation
(the molecule branch off) and the linear probe, on the same encoder settings and labels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..models.cuca import CUCA, CUCAConfig, LinearProbe, LoraSettings
from ..models.encoders import EncoderConfig
from ..training.data import SpotSet, split_validation
from ..training.loop import TrainConfig, seed_everything, train
from ..training.models import fingerprint
from ..training.retrieval import embed_images
from .probe import fit_probe, set_head

log = logging.getLogger(__name__)

MODELS = ("cuca", "cuca_image_only", "linear_probe")


def cuca_config(name: str, cfg: dict) -> CUCAConfig:
    settings = dict(cfg["cuca"])
    lora = LoraSettings(**settings.pop("lora", {}))
    settings["molecule_dims"] = tuple(settings.get("molecule_dims", (1024, 1024)))
    if name == "cuca_image_only":
        settings.update(w_rec=0.0, w_align=0.0)
    return CUCAConfig(encoder=EncoderConfig(**cfg["encoder"]), preset=cfg["preset"], finetune=cfg["finetune"], lora=lora, **settings)


def build(name: str, n_types: int, n_genes: int, cfg: dict) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown cell-type model {name!r}; use one of {MODELS}")
    model_cfg = cuca_config(name, cfg)
    if name == "linear_probe":
        return LinearProbe(n_types, model_cfg)
    return CUCA(n_types, n_genes, model_cfg)


def train_config(cfg: dict) -> TrainConfig:
    return TrainConfig(optimizer="adam", schedule="onecycle", select="pearson", **cfg["train"])


def fit(name: str, cfg: dict, data: SpotSet, device: torch.device, workdir: Path) -> pd.DataFrame:
    """Train one model on ``data`` (images, gene input, labels); ``workdir/best.pt`` holds the
    selected weights afterwards. Returns the history (per epoch; per penalty for the probe)."""
    train_cfg = train_config(cfg)
    seed_everything(train_cfg.seed)
    model = build(name, len(data.label_names), len(data.genes), cfg)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("%s: %.2f M parameters, %.2f M trained", name, sum(p.numel() for p in model.parameters()) / 1e6, n_train / 1e6)
    if name != "linear_probe":
        return train(model, data, train_cfg, device, workdir, fingerprint(name, cfg, data))
    model.to(device).eval()
    features = embed_images(model.encoder, data.images, device).cpu().numpy()
    train_idx, val_idx = split_validation(data.sample, train_cfg.val_fraction, train_cfg.seed)
    weight, bias, history = fit_probe(features, data.labels.numpy(), train_idx, val_idx, list(cfg["probe_alphas"]), train_cfg.seed)
    set_head(model.head, weight, bias)
    workdir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), workdir / "best.pt")
    return history


def load(name: str, cfg: dict, n_types: int, n_genes: int, checkpoint: Path, device: torch.device) -> nn.Module:
    model = build(name, n_types, n_genes, cfg)
    model.load_state_dict(torch.load(checkpoint, map_location=device, weights_only=True))
    return model.to(device).eval()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 256) -> np.ndarray:
    """Abundances of every patch (uint8 [N, H, W, 3]) from the image alone."""
    return embed_images(model.predict, images, device, batch).cpu().numpy()
