"""Checks shared by every reader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..slide import UmPerPx


@dataclass
class SpotTable:
    """What a reader returns: counts with spot centres, plus what the format says about geometry."""

    adata: ad.AnnData
    spot_diameter_px: float | None  # full-resolution pixels, when the format stores it
    um_per_px_from_spots: UmPerPx | None  # pixel size implied by a known physical spot pitch/size
    n_dropped_unmatched: int = 0  # spots present in only one of counts / positions


def check_raw_counts(X, path: str | Path) -> sp.csr_matrix:
    """Return counts as int32 CSR; refuse negative, non-integer or non-finite values."""
    X = sp.csr_matrix(X)
    data = X.data
    if data.size and not np.all(np.isfinite(data)):
        raise InputError(path, "counts contain NaN or infinite values", "give the raw UMI count matrix")
    if data.size and (data.min() < 0 or not np.all(np.equal(np.mod(data, 1), 0))):
        bad = data[(data < 0) | (np.mod(data, 1) != 0)][:3]
        raise InputError(
            path,
            f"counts are not raw non-negative integers (e.g. {bad.tolist()}); normalised or log values "
            "were given where raw counts are required",
            "point the sample sheet at the raw count matrix (e.g. filtered_feature_bc_matrix.h5)",
        )
    return sp.csr_matrix(X, dtype=np.int32)


def check_unique(names, path: str | Path, what: str) -> None:
    names = np.asarray(names).astype(str)
    uniq, counts = np.unique(names, return_counts=True)
    dup = uniq[counts > 1]
    if dup.size:
        raise InputError(
            path,
            f"{dup.size} duplicate {what}(s), e.g. {dup[:3].tolist()}",
            f"make every {what} unique in this file (one row per spot)",
        )


def require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise InputError(path, f"{what} not found", fix)
    return path
