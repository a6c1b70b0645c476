"""The training loop shared by the image models: seeded 80/20 validation split inside the
training slides, AdamW + cosine (CMRCNet) or Adam + one-cycle (CUCA) schedules stepped per epoch,
device-side augmentation, bf16 autocast on GPU, the weights with the best validation score kept
(lowest loss, or highest mean per-column Pearson r of the predictions), and resume points written
every few minutes, not every epoch (a checkpoint of a large model takes longer to write than an
epoch on a few hundred spots takes to train). A model whose first layers are frozen (``prefix_frozen``) and that trains
without augmentation gets their output computed once, not every epoch."""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..metrics import pearson_columns
from .augment import StainJitter, to_model_input
from .checkpoint import (
    RESUME_POINT,
    generator_states,
    read_resume_point,
    restore_generators,
    write_best_weights,
    write_resume_point,
)
from .data import SpotSet, split_validation

log = logging.getLogger(__name__)

TIMING_COLUMNS = ("compute_seconds", "wall_seconds", "train_img_per_s")  # history columns that vary run to run


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-3
    eta_min: float = 1e-5
    val_fraction: float = 0.2
    selection: str = "validation_patients"  # or "in_slide" (ingest.folds.validation_samples)
    seed: int = 42
    seeds: int = 1  # trainings per fold (the workflow's replicates: seed, seed + 1, ...); one run uses ``seed``
    augment: bool = True
    optimizer: str = "adamw"  # or "adam"
    schedule: str = "cosine"  # or "onecycle" (max lr = lr)
    pct_start: float = 0.2
    div_factor: float = 10.0
    final_div_factor: float = 10.0
    select: str = "loss"  # or "pearson": mean over columns of r(prediction, last target)
    bn_stats: str = "running"  # BatchNorm's eval statistics: "running" (its running averages, as released) or
    # "precise" (recomputed over every training spot after each epoch: ``precise_batch_norm``)
    stain: StainJitter = StainJitter()  # colour perturbations on top of ``augment``'s flips and turns

    @property
    def perturbs_images(self) -> bool:
        return self.augment or self.stain.active

    @classmethod
    def from_config(cls, section: dict, **method) -> "TrainSettings":
        """From a ``train`` config section; ``method`` fixes what the method prescribes and the
        config does not expose (optimizer, schedule, selection rule)."""
        section = dict(section)
        stain = StainJitter(**section.pop("stain_jitter", {}))
        return cls(**section, **method, stain=stain)


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False


def resident(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on the device when it fits in a third of its free memory (one copy, no loader),
    else left in pinned host memory and sent per batch."""
    if device.type != "cuda" or tensor.device.type == "cuda":
        return tensor
    free, _ = torch.cuda.mem_get_info(device)
    if tensor.numel() * tensor.element_size() < free / 3:
        return tensor.to(device)
    return tensor if tensor.is_pinned() else tensor.pin_memory()


@torch.no_grad()
def frozen_prefix_output(
    model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 256
) -> torch.Tensor:
    """The frozen prefix's output for every spot, computed once (bf16 on the GPU)."""
    model.eval()
    autocast = device.type == "cuda"
    out = []
    for i in range(0, len(images), batch):
        x = to_model_input(images[i : i + batch].to(device, non_blocking=True))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            tokens = model.prefix(x)
        out.append(tokens.to(torch.bfloat16 if autocast else torch.float32).cpu())
    tokens = torch.cat(out)
    log.info(
        "frozen prefix computed once: %s tokens, %.0f MB",
        tuple(tokens.shape),
        tokens.numel() * tokens.element_size() / 2**20,
    )
    return tokens


def batch_input(
    inputs: torch.Tensor, rows: torch.Tensor, device: torch.device, generator, cfg: TrainSettings | None
) -> torch.Tensor:
    """The model input of ``rows``, perturbed as ``cfg`` says (None: as is, for validation)."""
    x = inputs[rows].to(device, non_blocking=True)
    if x.dtype != torch.uint8:  # precomputed prefix tokens
        return x
    if cfg is None:
        return to_model_input(x)
    return to_model_input(x, generator, cfg.augment, cfg.stain)


def _batches(n: int, size: int, generator: torch.Generator | None, drop_last: bool):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % size if drop_last and n >= size else n
    return [order[i : i + size] for i in range(0, stop, size)]


def _run(
    model,
    inputs,
    targets,
    idx,
    batches,
    device,
    autocast,
    optimizer=None,
    generator=None,
    perturb: TrainSettings | None = None,
    collect=False,
):
    """One pass over ``batches``: mean of the scalar outputs (loss terms), and the concatenated
    ``prediction`` output when ``collect``; images perturbed as ``perturb`` says."""
    sums: dict[str, torch.Tensor] = {}
    count, predictions = 0, []
    for b in batches:
        rows = idx[b]
        x = batch_input(inputs, rows, device, generator, perturb)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out = model(x, *(t[rows] for t in targets))
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
        if collect:
            predictions.append(out["prediction"].detach().float())
        for k, v in out.items():
            if v.ndim == 0:
                sums[k] = sums.get(k, 0) + v.detach().float() * len(rows)
        count += len(rows)
    terms = {k: float(v) / max(count, 1) for k, v in sums.items()}  # one sync per epoch
    return terms, (torch.cat(predictions) if collect else None)


def precise_batch_norm(model: nn.Module, inputs, idx, batch_size: int, device: torch.device) -> None:
    """Recompute the BatchNorm statistics of ``model.predict``'s path as the average over every
    training spot (``torch.optim.swa_utils.update_bn``), in place of the running averages of the
    last few batches (BatchNorm's momentum 0.1): with few batches per epoch those follow the last
    batches' draw, and the eval-mode predictions, hence the validation score and the epoch selected
    on it, move with them ("precise BN", Wu & Johnson 2021). Batches in a fixed order, none of one
    spot (a batch statistic needs two)."""
    batches = [b for b in _batches(len(idx), batch_size, None, False) if len(b) > 1]
    wrapper = _Predict(model)
    torch.optim.swa_utils.update_bn((batch_input(inputs, idx[b], device, None, None) for b in batches), wrapper)


class _Predict(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.predict(x)


def _optimizer_and_schedule(model: nn.Module, cfg: TrainSettings):
    """The optimizer over the trainable parameters, its per-epoch schedule, and whether the
    schedule steps at the start of an epoch (CMRCNet's cosine) or at its end (CUCA's one-cycle)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.schedule == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=cfg.lr,
            total_steps=cfg.epochs,
            pct_start=cfg.pct_start,
            div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor,
        )
        return optimizer, schedule, False
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.eta_min), True


def train(
    model: nn.Module,
    data: SpotSet,
    cfg: TrainSettings,
    device: torch.device,
    workdir: Path,
    fingerprint: str = "",
    checkpoint_minutes: float = 5.0,
    val_samples: tuple[str, ...] = (),
    after_epoch: Callable[[nn.Module], dict] | None = None,
) -> pd.DataFrame:
    """Train ``model`` (seeded before construction by the caller) and return the per-epoch history.
    Model selection uses the spots of ``val_samples`` when given, else an in-slide split.
    ``model(x, *targets)`` returns a dict of scalar loss terms (``loss`` is optimised) and, for
    ``select="pearson"``, a ``prediction`` of the last target. The targets are the spots'
    expression, then their labels when the data has labels.

    The weights of the best validation score are kept in memory. A resume point (``last.pt`` in
    ``workdir``, with those weights) is written at most every ``checkpoint_minutes`` (0: every
    epoch) and after the last epoch, when ``best.pt`` is written too; a killed run resumes from it
    when its ``fingerprint`` (settings and data) matches, and ends as an uninterrupted run would.
    The history has each epoch's ``compute_seconds`` (training and validation passes) and
    ``wall_seconds`` (the whole epoch, logging and resume point included). ``after_epoch(model)``,
    when given, is called in eval mode after each epoch's validation and its values join the
    epoch's history row (studies of the training, e.g. the held-out score of every epoch)."""
    workdir.mkdir(parents=True, exist_ok=True)
    train_idx, val_idx = split_validation(data.sample, cfg.val_fraction, cfg.seed, val_samples)
    how = (
        f"the validation patients' slides {list(val_samples)}"
        if val_samples
        else f"seeded {100 * (1 - cfg.val_fraction):.0f}/{100 * cfg.val_fraction:.0f} split per slide"
    )
    log.info("%d training and %d validation spots (%s)", len(train_idx), len(val_idx), how)
    model.to(device)
    optimizer, scheduler, step_at_start = _optimizer_and_schedule(model, cfg)
    start, best, best_weights, history = 0, -math.inf, None, []
    state = read_resume_point(workdir, fingerprint)
    if state is not None:  # resume a killed job
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, best, best_weights, history = state["epoch"], state["best"], state["best_weights"], state["history"]
        restore_generators(state["generators"], device)
        log.info("resumed from %s at epoch %d", workdir / RESUME_POINT, start)
    del state

    frozen_prefix = getattr(model, "prefix_frozen", False) and not cfg.perturbs_images
    inputs = resident(frozen_prefix_output(model, data.images, device) if frozen_prefix else data.images, device)
    targets = tuple(t.to(device) for t in (data.expression, data.labels) if t is not None)
    tr, va = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    autocast = device.type == "cuda"
    pearson = cfg.select == "pearson"
    last_written = time.monotonic()
    for epoch in range(start, cfg.epochs):
        tick = time.perf_counter()
        if step_at_start:
            with warnings.catch_warnings():  # stepping before any optimizer step is intended here
                warnings.simplefilter("ignore", UserWarning)
                scheduler.step()  # CMRCNet's reference steps its schedule at the start of each epoch
        lr = optimizer.param_groups[0]["lr"]
        order_gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        aug_gen = torch.Generator(device=device).manual_seed(cfg.seed * 7_919 + epoch)
        model.train()
        batches = _batches(len(tr), cfg.batch_size, order_gen, drop_last=True)
        train_terms, _ = _run(model, inputs, targets, tr, batches, device, autocast, optimizer, aug_gen, cfg)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - tick
        if not step_at_start and epoch + 1 < cfg.epochs:
            scheduler.step()
        if cfg.bn_stats == "precise":
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                precise_batch_norm(model, inputs, tr, cfg.batch_size, device)
        model.eval()
        with torch.no_grad():
            val_terms, predicted = _run(
                model,
                inputs,
                targets,
                va,
                _batches(len(va), cfg.batch_size, None, False),
                device,
                autocast,
                collect=pearson,
            )
        if pearson:
            val_terms["pearson"] = float(pearson_columns(predicted, targets[-1][va.to(device)].float()).mean())
        score = val_terms["pearson"] if pearson else -val_terms.get("loss", math.inf)
        improved = score > best
        if improved:
            best, best_weights = score, _copy_weights(model)
        compute_seconds = time.perf_counter() - tick
        last_epoch = epoch + 1 == cfg.epochs
        resume_point = last_epoch or time.monotonic() - last_written >= 60 * checkpoint_minutes
        row = {
            "epoch": epoch + 1,
            "lr": lr,
            "compute_seconds": compute_seconds,
            "wall_seconds": compute_seconds,
            "resume_point": int(resume_point),
        }
        row |= {"train_img_per_s": len(batches) * cfg.batch_size / train_seconds}
        row |= {f"train_{k}": v for k, v in train_terms.items()} | {f"val_{k}": v for k, v in val_terms.items()}
        if after_epoch is not None:
            with torch.no_grad():
                row |= after_epoch(model)
        history.append(row)
        log.info(
            "epoch %d/%d  train %s  val %s  %.1f s%s",
            epoch + 1,
            cfg.epochs,
            " ".join(f"{k} {v:.4f}" for k, v in train_terms.items()),
            " ".join(f"{k} {v:.4f}" for k, v in val_terms.items()),
            compute_seconds,
            "  (best)" if improved else "",
        )
        if resume_point:
            row["wall_seconds"] = time.perf_counter() - tick  # what is known of it when it is written
            write_resume_point(
                workdir,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "best": best,
                    "best_weights": best_weights,
                    "history": history,
                    "generators": generator_states(device),
                    "fingerprint": fingerprint,
                },
            )
            last_written = time.monotonic()
        row["wall_seconds"] = time.perf_counter() - tick
    if best_weights is None:
        raise RuntimeError(
            f"no epoch of {cfg.epochs} gave a validation score on the {len(val_idx)} validation spots (every "
            "score was undefined, e.g. a constant target there): nothing to select; see the history above"
        )
    write_best_weights(workdir, best_weights)
    return pd.DataFrame(history)


def _copy_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights on their own device (the best so far, kept until a resume point)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
