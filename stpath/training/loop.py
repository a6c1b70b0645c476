"""The training loop shared by the image models: seeded 80/20 validation split inside the
training slides, AdamW + cosine schedule, device-side augmentation, bf16 autocast on GPU, the
checkpoint with the lowest validation loss kept, and a resumable last checkpoint every epoch."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..atomic import atomic_path
from .augment import to_model_input
from .data import SpotSet, split_validation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-3
    eta_min: float = 1e-5
    val_fraction: float = 0.2
    seed: int = 42
    augment: bool = True


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False


def resident_images(data: SpotSet, device: torch.device) -> torch.Tensor:
    """The uint8 patches on the device when they fit in a third of its free memory (one copy,
    no loader), else left in pinned host memory and sent per batch."""
    if device.type != "cuda":
        return data.images
    free, _ = torch.cuda.mem_get_info(device)
    if data.images.numel() < free / 3:
        return data.images.to(device)
    return data.images if data.images.is_pinned() else data.images.pin_memory()


def _batches(n: int, size: int, generator: torch.Generator | None, drop_last: bool):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % size if drop_last and n >= size else n
    return [order[i : i + size] for i in range(0, stop, size)]


def _run(model, images, expression, idx, batches, device, autocast, optimizer=None, generator=None, augment=False):
    sums: dict[str, torch.Tensor] = {}
    count = 0
    for b in batches:
        rows = idx[b]
        x = to_model_input(images[rows].to(device, non_blocking=True), generator, augment)
        y = expression[rows]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out = model(x, y)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
        for k, v in out.items():
            sums[k] = sums.get(k, 0) + v.detach().float() * len(rows)
        count += len(rows)
    return {k: float(v) / max(count, 1) for k, v in sums.items()}  # one sync per epoch


def train(model: nn.Module, data: SpotSet, cfg: TrainConfig, device: torch.device, workdir: Path, fingerprint: str = "") -> pd.DataFrame:
    """Train ``model`` (seeded before construction by the caller) and return the per-epoch history.
    ``workdir`` keeps ``last.pt`` (resume point) and ``best.pt`` (lowest validation loss) across a
    kill; a run resumes only from a checkpoint of the same ``fingerprint`` (settings and data)."""
    workdir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = workdir / "last.pt", workdir / "best.pt"
    train_idx, val_idx = split_validation(data.sample, cfg.val_fraction, cfg.seed)
    log.info("%d training and %d validation spots (seeded %.0f/%.0f split per slide)", len(train_idx), len(val_idx), 100 * (1 - cfg.val_fraction), 100 * cfg.val_fraction)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.eta_min)
    start, best, history = 0, math.inf, []
    state = torch.load(last_path, map_location=device, weights_only=False) if last_path.exists() else None
    if state is not None and state.get("fingerprint") != fingerprint:
        log.info("%s was written with other settings or data; training from scratch", last_path)
        state = None
    if state is not None:  # resume a killed job
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, best, history = state["epoch"], state["best"], state["history"]
        torch.set_rng_state(state["rng"])
        log.info("resumed from %s at epoch %d", last_path, start)

    images = resident_images(data, device)
    expression = data.expression.to(device)
    tr, va = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    autocast = device.type == "cuda"
    for epoch in range(start, cfg.epochs):
        tick = time.perf_counter()
        with warnings.catch_warnings():  # stepping before any optimizer step is intended here
            warnings.simplefilter("ignore", UserWarning)
            scheduler.step()  # the reference steps the schedule at the start of each epoch
        order_gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        aug_gen = torch.Generator(device=device).manual_seed(cfg.seed * 7_919 + epoch)
        model.train()
        batches = _batches(len(tr), cfg.batch_size, order_gen, drop_last=True)
        train_terms = _run(model, images, expression, tr, batches, device, autocast, optimizer, aug_gen, cfg.augment)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - tick
        model.eval()
        with torch.no_grad():
            val_terms = _run(model, images, expression, va, _batches(len(va), cfg.batch_size, None, False), device, autocast)
        seconds = time.perf_counter() - tick
        row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "seconds": seconds, "train_img_per_s": len(batches) * cfg.batch_size / train_seconds}
        row |= {f"train_{k}": v for k, v in train_terms.items()} | {f"val_{k}": v for k, v in val_terms.items()}
        history.append(row)
        improved = val_terms.get("loss", math.inf) < best
        if improved:
            best = val_terms["loss"]
            with atomic_path(best_path) as tmp:
                torch.save(model.state_dict(), tmp)
        log.info(
            "epoch %d/%d  train %s  val %s  %.1f s%s", epoch + 1, cfg.epochs,
            " ".join(f"{k} {v:.4f}" for k, v in train_terms.items()), " ".join(f"{k} {v:.4f}" for k, v in val_terms.items()),
            seconds, "  (best)" if improved else "",
        )
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "best": best, "history": history, "rng": torch.get_rng_state(), "fingerprint": fingerprint}
        with atomic_path(last_path) as tmp:
            torch.save(state, tmp)
    return pd.DataFrame(history)
