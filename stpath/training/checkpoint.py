"""A finished training run: the settings fingerprint a resumable checkpoint must match, and the
run's outputs. Owner of ``models/{model}/fold{k}/`` (``best.pt`` weights, ``history.tsv``):
``save_finished_run`` writes them; ``load_weights`` and ``read_history`` read them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ..atomic import atomic_path
from .data import SpotSet


def fingerprint(name: str, settings, data: SpotSet) -> str:
    """What a resumable checkpoint must match: model, settings, genes, labels and training spots."""
    settings = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else settings
    content = json.dumps([name, settings, data.genes, data.label_names, sorted(set(data.sample)), len(data)], sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()


def save_finished_run(history: pd.DataFrame, workdir: Path, history_path, checkpoint_path) -> None:
    """Write the history and the selected checkpoint, then drop the work folder (a forced rerun
    trains from scratch instead of resuming a finished run)."""
    with atomic_path(history_path) as tmp:
        history.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    with atomic_path(checkpoint_path) as tmp:
        shutil.copyfile(workdir / "best.pt", tmp)
    shutil.rmtree(workdir)


def load_weights(model: nn.Module, checkpoint, device: torch.device) -> nn.Module:
    """``model`` with the checkpoint's weights, on ``device``, in eval mode."""
    model.load_state_dict(torch.load(checkpoint, map_location=device, weights_only=True))
    return model.to(device).eval()


def read_history(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")
