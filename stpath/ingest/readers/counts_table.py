"""A plain counts table (CSV/TSV, genes x spots or spots x genes) with a coordinates table
(spot id, x, y): the layout R packages such as spacexr export, and the simplest hand-made one."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ...errors import InputError
from ..tables import check_raw_counts, check_unique, orient_counts, read_table, require_file
from .common import SpotTable


def read_counts_table(counts: str | Path, spots: str | Path | None) -> SpotTable:
    counts = require_file(Path(counts), "counts table", "correct the 'expression' column of the sample sheet")
    if spots is None or str(spots) in ("", "nan"):
        raise InputError(counts, "counts_table samples need a coordinates table (spot, x, y)", "fill the 'spots' column of the sample sheet")
    spots = require_file(Path(spots), "coordinates table", "correct the 'spots' column of the sample sheet")

    coords = read_table(spots)
    missing = [c for c in ("x", "y") if c not in coords.columns]
    if missing:
        raise InputError(spots, f"missing column(s) {missing}; columns are {list(coords.columns)}", "give a table with the spot id first, then columns x and y (pixels)")
    coords.index = coords.index.astype(str)
    check_unique(coords.index, spots, "spot id")
    table = orient_counts(read_table(counts), coords.index, counts, "spot")
    table.index = table.index.astype(str)
    check_unique(table.index, counts, "spot id")

    shared = table.index.intersection(coords.index)
    n_dropped = len(table.index.union(coords.index)) - len(shared)
    table, coords = table.loc[shared], coords.loc[shared]
    X = check_raw_counts(table.to_numpy(), counts)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=shared), var=pd.DataFrame(index=table.columns.astype(str)))
    adata.var_names_make_unique()
    adata.obsm["spatial"] = coords[["x", "y"]].to_numpy(dtype=np.float64)
    return SpotTable(adata, spot_diameter_px=None, um_per_px_from_spots=None, n_dropped_unmatched=n_dropped)
