"""Checkpoints of a training run. Owner of the work folder's resume point (``last.pt``: model,
optimizer, schedule, history, the best weights so far and the random generators' states, written by
``write_resume_point`` and read, always onto the CPU, by ``read_resume_point``), and of a finished
run's outputs in ``models/{model}/fold{k}/`` (``best.pt`` weights, ``history.tsv``):
``save_finished_run`` writes them; ``load_weights`` and ``read_history`` read them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ..atomic import atomic_path
from .data import SpotSet

log = logging.getLogger(__name__)

RESUME_POINT = "last.pt"
BEST_WEIGHTS = "best.pt"


def fingerprint(name: str, settings, data: SpotSet, val_samples=()) -> str:
    """What a resumable checkpoint must match: model, settings, genes, labels, training spots and
    the validation slides."""
    settings = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else settings
    content = [name, settings, data.genes, data.label_names, sorted(set(data.sample)), len(data)] + (
        [sorted(val_samples)] if len(val_samples) else []
    )
    content = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()


def generator_states(device: torch.device) -> dict[str, torch.Tensor]:
    """The global random generators a training step draws from (dropout, masks): the CPU one, and
    the device's when it is a GPU."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def restore_generators(states: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(states["cpu"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)


def write_resume_point(workdir: Path, state: dict) -> None:
    with atomic_path(Path(workdir) / RESUME_POINT) as tmp:
        torch.save(state, tmp)


def has_resume_point(workdir) -> bool:
    """A killed attempt left a resume point in ``workdir`` (it may still be another run's)."""
    return (Path(workdir) / RESUME_POINT).exists()


def read_resume_point(workdir: Path, fingerprint: str) -> dict | None:
    """The work folder's resume point, every tensor on the CPU whatever device wrote it or will
    train on (a generator state must be a CPU byte tensor; the model and optimizer take their
    tensors to their own device on loading); None when there is none or it belongs to other
    settings or data."""
    path = Path(workdir) / RESUME_POINT
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != fingerprint:
        log.info("%s was written with other settings or data; training from scratch", path)
        return None
    return state


def write_best_weights(workdir: Path, weights: dict[str, torch.Tensor]) -> None:
    Path(workdir).mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(workdir) / BEST_WEIGHTS) as tmp:
        torch.save({k: v.cpu() for k, v in weights.items()}, tmp)


def save_finished_run(history: pd.DataFrame, workdir: Path, history_path, checkpoint_path) -> None:
    """Write the history and the selected checkpoint, then drop the work folder (a forced rerun
    trains from scratch instead of resuming a finished run)."""
    with atomic_path(history_path) as tmp:
        history.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    with atomic_path(checkpoint_path) as tmp:
        shutil.copyfile(workdir / BEST_WEIGHTS, tmp)
    shutil.rmtree(workdir)


def load_weights(model: nn.Module, checkpoint, device: torch.device) -> nn.Module:
    """``model`` with the checkpoint's weights, on ``device``, in eval mode."""
    model.load_state_dict(torch.load(checkpoint, map_location=device, weights_only=True))
    return model.to(device).eval()


def read_history(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")
