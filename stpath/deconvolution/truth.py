"""Spot keys unique across samples, and the true abundance tables the demo is drawn from
(light: no model libraries, so evaluation steps can read them). Owner of the truth tables'
reading (the demo generator writes them)."""

from __future__ import annotations

import pandas as pd


def spot_key(sample: str, spot: str) -> str:
    """Spot id in the joint model: unique across samples."""
    return f"{sample}:{spot}"


def read_truth(paths, samples, keyed: bool = True) -> pd.DataFrame:
    """True abundance tables (spot id first, one column per type), spots keyed like the joint
    model (``sample:spot``), or by their own id when ``keyed`` is False (one sample)."""
    frames = []
    for path, sample in zip(paths, samples):
        table = pd.read_csv(path, sep="\t", index_col=0)
        index = [spot_key(sample, str(b)) if keyed else str(b) for b in table.index]
        frames.append(table.set_axis(index))
    return pd.concat(frames)
