"""Training labels of the cell-type models: the deconvolution stage's per-spot estimates, or a
published table's (written in the same layout by rule published_labels)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..deconvolution.output import read_estimate
from ..errors import InputError
from ..training.data import SpotSet
from .settings import LabelSettings

log = logging.getLogger(__name__)


def attach_labels(data: SpotSet, label_paths: dict[str, Path], labels: LabelSettings) -> SpotSet:
    """``data`` restricted to the spots that have labels, with the labels attached (same order)."""
    tables = {s: read_estimate(label_paths[s], *labels.stored) for s in dict.fromkeys(data.sample)}
    types = list(next(iter(tables.values())).columns)
    for sample, table in tables.items():
        if list(table.columns) != types:
            raise InputError(
                label_paths[sample],
                "its cell types differ from the other samples'",
                "rerun the deconvolution stage so that all samples share one model",
            )
    keep = np.zeros(len(data), bool)
    values = np.zeros((len(data), len(types)), np.float32)
    for sample, table in tables.items():
        rows = np.flatnonzero(data.sample == sample)
        found = pd.Index(table.index).get_indexer(data.barcode[rows])
        keep[rows] = found >= 0
        values[rows[found >= 0]] = table.to_numpy(np.float32)[found[found >= 0]]
    if not keep.any():
        raise InputError(
            next(iter(label_paths.values())),
            "no spot of the patch files has a deconvolution label",
            "check that the deconvolution and patch stages ran on the same samples",
        )
    if not keep.all():
        log.info("%d spots have no deconvolution label and are skipped", int((~keep).sum()))
    out = data.subset(keep)
    out.labels, out.label_names = torch.from_numpy(values[keep]), types
    log.info("labels: %s (%s) of %d cell types for %d spots", labels.name, labels.quantity, len(types), len(out))
    return out
