"""Legacy Spatial Transcriptomics in the HER2ST layout: a spots x genes counts TSV whose row names
are ``<x>x<y>`` array coordinates, and a spot-selection TSV with pixel centres."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ...errors import InputError
from ..geometry import SPOT_PITCH_UM, UmPerPx, check_frame
from ..tables import check_raw_counts, check_unique, header_names, peek_table, read_table, require_file
from .common import SpotPositions

ST_SPOT_DIAMETER_UM = 100.0
SELECTION_COLUMNS = ("x", "y", "new_x", "new_y", "pixel_x", "pixel_y")


def _selection_file(counts, spots) -> Path:
    if spots is None or str(spots) in ("", "nan"):
        raise InputError(
            counts, "legacy_st samples need a spot-selection file", "fill the 'spots' column of the sample sheet"
        )
    return require_file(Path(spots), "spot selection TSV", "correct the 'spots' column of the sample sheet")


def read_legacy_st_positions(counts: str | Path, spots: str | Path | None) -> SpotPositions:
    spots = _selection_file(counts, spots)
    try:
        selection = pd.read_csv(spots, sep="\t")
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise InputError(
            spots,
            f"cannot be read as a spot selection TSV ({exc})",
            f"give a tab-separated file with columns {list(SELECTION_COLUMNS)}",
        ) from None
    missing = [c for c in SELECTION_COLUMNS if c not in selection.columns]
    if missing:
        raise InputError(
            spots, f"missing column(s) {missing}", f"give a selection file with columns {list(SELECTION_COLUMNS)}"
        )
    if "selected" in selection.columns:
        selection = selection[selection["selected"].astype(int) == 1]
    selection.index = pd.Index([f"{int(x)}x{int(y)}" for x, y in zip(selection["x"], selection["y"])])
    check_unique(selection.index, spots, "spot (x, y)")
    check_frame(
        selection[["x", "y"]].to_numpy(),
        selection[["pixel_x", "pixel_y"]].to_numpy(),
        ("x", "y", "pixel_x", "pixel_y"),
        spots,
    )
    px_per_unit = _pixels_per_array_unit(selection, spots)
    um_per_px = SPOT_PITCH_UM["legacy_st"] / px_per_unit
    return SpotPositions(
        path=spots,
        ids=selection.index,
        xy=selection[["pixel_x", "pixel_y"]].to_numpy(dtype=np.float64),
        pixel_sizes=[UmPerPx(um_per_px, f"legacy ST spot pitch (200 um = {px_per_unit:.1f} px)")],
        spot_diameter_px=ST_SPOT_DIAMETER_UM / um_per_px,
        obs=pd.DataFrame(
            {"array_x": selection["x"].to_numpy(), "array_y": selection["y"].to_numpy()}, index=selection.index
        ),
    )


def peek_legacy_st_counts(counts: str | Path, spots: str | Path | None = None) -> list[str]:
    """Opens the counts TSV; returns its gene names (the header: spots are rows)."""
    counts = require_file(Path(counts), "counts TSV", "correct the 'expression' column of the sample sheet")
    peek_table(counts, sep="\t")
    return header_names(counts, sep="\t")


def read_legacy_st_counts(counts: str | Path, positions: SpotPositions) -> ad.AnnData:
    counts = require_file(Path(counts), "counts TSV", "correct the 'expression' column of the sample sheet")
    table = read_table(counts, sep="\t")
    table.index = table.index.astype(str)
    check_unique(table.index, counts, "spot id")
    X = check_raw_counts(table.to_numpy(), counts)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=table.index), var=pd.DataFrame(index=table.columns.astype(str)))
    adata.var_names_make_unique()
    return adata


def _pixels_per_array_unit(selection: pd.DataFrame, path: Path) -> float:
    """Slope of pixel ~ adjusted array coordinate, averaged over both axes (least squares)."""
    slopes = []
    for arr, pix in (("new_x", "pixel_x"), ("new_y", "pixel_y")):
        a = selection[arr].to_numpy(float)
        p = selection[pix].to_numpy(float)
        ok = np.isfinite(a) & np.isfinite(p)
        if ok.sum() >= 3 and np.ptp(a[ok]) > 0:
            slopes.append(np.polyfit(a[ok], p[ok], 1)[0])
    if len(selection) < 3 or not slopes or min(slopes) <= 0:
        raise InputError(
            path, "cannot derive the pixel size from fewer than 3 spots", "add 'um_per_px' to the sample sheet"
        )
    return float(np.mean(slopes))
