"""Legacy Spatial Transcriptomics in the HER2ST layout: a spots x genes counts TSV whose row names
are ``<x>x<y>`` array coordinates, and a spot-selection TSV with pixel centres."""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ...errors import InputError
from ...wsi.slide import UmPerPx
from .common import SpotTable, check_raw_counts, check_unique, require_file

log = logging.getLogger(__name__)

ST_SPOT_PITCH_UM = 200.0  # centre-to-centre distance of the legacy ST array
ST_SPOT_DIAMETER_UM = 100.0
SELECTION_COLUMNS = ("x", "y", "new_x", "new_y", "pixel_x", "pixel_y")


def read_legacy_st(counts: str | Path, spots: str | Path | None) -> SpotTable:
    counts = require_file(Path(counts), "counts TSV", "correct the 'expression' column of the sample sheet")
    if spots is None or str(spots) in ("", "nan"):
        raise InputError(counts, "legacy_st samples need a spot-selection file", "fill the 'spots' column of the sample sheet")
    spots = require_file(Path(spots), "spot selection TSV", "correct the 'spots' column of the sample sheet")

    table = pd.read_csv(counts, sep="\t", index_col=0)
    check_unique(table.index, counts, "spot id")
    selection = pd.read_csv(spots, sep="\t")
    missing = [c for c in SELECTION_COLUMNS if c not in selection.columns]
    if missing:
        raise InputError(spots, f"missing column(s) {missing}", f"give a selection file with columns {list(SELECTION_COLUMNS)}")
    if "selected" in selection.columns:
        selection = selection[selection["selected"].astype(int) == 1]
    selection.index = [f"{int(x)}x{int(y)}" for x, y in zip(selection["x"], selection["y"])]
    check_unique(selection.index, spots, "spot (x, y)")

    shared = table.index.intersection(selection.index)
    if len(shared) == 0:
        raise InputError(
            counts,
            f"no spot id of the counts (e.g. {list(table.index[:2])}) matches the selection file {spots.name} "
            f"(e.g. {list(selection.index[:2])})",
            "pair each counts file with the selection file of the same section",
        )
    n_dropped = len(table.index.union(selection.index)) - len(shared)
    if n_dropped:
        log.info("%s: %d spots are in only one of counts/selection and are dropped", counts.name, n_dropped)

    table = table.loc[shared]
    selection = selection.loc[shared]
    X = check_raw_counts(table.to_numpy(), counts)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=shared.astype(str)), var=pd.DataFrame(index=table.columns.astype(str)))
    adata.var_names_make_unique()
    adata.obs["array_x"] = selection["x"].to_numpy()
    adata.obs["array_y"] = selection["y"].to_numpy()
    adata.obsm["spatial"] = selection[["pixel_x", "pixel_y"]].to_numpy(dtype=np.float64)

    px_per_unit = _pixels_per_array_unit(selection, spots)
    um_per_px = ST_SPOT_PITCH_UM / px_per_unit
    from_spots = UmPerPx(um_per_px, f"legacy ST spot pitch (200 um = {px_per_unit:.1f} px)")
    return SpotTable(adata, ST_SPOT_DIAMETER_UM / um_per_px, from_spots, n_dropped)


def _pixels_per_array_unit(selection: pd.DataFrame, path: Path) -> float:
    """Slope of pixel ~ adjusted array coordinate, averaged over both axes (least squares)."""
    slopes = []
    for arr, pix in (("new_x", "pixel_x"), ("new_y", "pixel_y")):
        a = selection[arr].to_numpy(float)
        p = selection[pix].to_numpy(float)
        if np.ptp(a) > 0:
            slopes.append(np.polyfit(a, p, 1)[0])
    if len(selection) < 3 or not slopes or min(slopes) <= 0:
        raise InputError(path, "cannot derive the pixel size from fewer than 3 spots", "add 'um_per_px' to the sample sheet")
    return float(np.mean(slopes))
