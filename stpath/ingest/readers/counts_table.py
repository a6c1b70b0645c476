"""A plain counts table (CSV/TSV, genes x spots or spots x genes) with a coordinates table
(spot id, x, y): the layout R packages such as spacexr export, and the simplest hand-made one."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ...errors import InputError
from ..tables import (
    check_raw_counts,
    check_unique,
    header_names,
    orient_counts,
    peek_table,
    read_table,
    require_file,
    row_names,
)
from .common import SpotPositions


def read_coordinates(counts: str | Path, spots: str | Path | None) -> SpotPositions:
    if spots is None or str(spots) in ("", "nan"):
        raise InputError(
            counts,
            "counts_table samples need a coordinates table (spot, x, y)",
            "fill the 'spots' column of the sample sheet",
        )
    spots = require_file(Path(spots), "coordinates table", "correct the 'spots' column of the sample sheet")
    coords = read_table(spots)
    missing = [c for c in ("x", "y") if c not in coords.columns]
    if missing:
        raise InputError(
            spots,
            f"missing column(s) {missing}; columns are {list(coords.columns)}",
            "give a table with the spot id first, then columns x and y (pixels)",
        )
    coords.index = coords.index.astype(str)
    check_unique(coords.index, spots, "spot id")
    xy = coords[["x", "y"]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    # a plain table says nothing about the technology: no pixel size follows from its spots
    return SpotPositions(path=spots, ids=coords.index, xy=xy, pixel_sizes=[], spot_diameter_px=None)


def peek_counts_table(counts: str | Path, spots: str | Path | None = None) -> list[str]:
    """Opens the table; returns its header and its row names (genes are one of them: the
    orientation is decided against the spot ids when the counts are read)."""
    counts = require_file(Path(counts), "counts table", "correct the 'expression' column of the sample sheet")
    peek_table(counts)
    return header_names(counts) + row_names(counts)


def read_counts_table_counts(counts: str | Path, positions: SpotPositions) -> ad.AnnData:
    counts = require_file(Path(counts), "counts table", "correct the 'expression' column of the sample sheet")
    table = orient_counts(read_table(counts), positions.ids, counts, "spot")
    table.index = table.index.astype(str)
    check_unique(table.index, counts, "spot id")
    X = check_raw_counts(table.to_numpy(), counts)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=table.index), var=pd.DataFrame(index=table.columns.astype(str)))
    adata.var_names_make_unique()
    return adata
