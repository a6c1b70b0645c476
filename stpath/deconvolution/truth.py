"""Spot keys unique across samples, and the true abundance tables the demo is drawn from
(light: no model libraries, so evaluation steps can read them)."""

from __future__ import annotations

import pandas as pd


def spot_key(sample: str, spot: str) -> str:
    """Spot id in the joint model: unique across samples."""
    return f"{sample}:{spot}"


def read_truth(paths, samples) -> pd.DataFrame:
    """True abundance tables (spot id first, one column per type), keyed like the joint model."""
    frames = []
    for path, sample in zip(paths, samples):
        table = pd.read_csv(path, sep="\t", index_col=0)
        frames.append(table.set_axis([spot_key(sample, str(b)) for b in table.index]))
    return pd.concat(frames)
