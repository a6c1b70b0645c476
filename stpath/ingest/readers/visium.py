"""10x Visium Space Ranger output folders (Space Ranger 1.x to 3.x layouts): the filtered matrix
read with scanpy, the spot positions and scale factors from ``spatial/``."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd

from ...errors import InputError
from ..geometry import SPOT_PITCH_UM, UmPerPx, spot_pitch_px
from ..tables import check_raw_counts, check_unique, require_file
from .common import SpotPositions

# spot_diameter_fullres spans "a theoretical 65 um spot" (10x's definition of the scale factor);
# the physical spot is 55 um.
SCALEFACTOR_SPOT_UM = 65.0
COUNTS = "filtered_feature_bc_matrix.h5"
POSITION_COLUMNS = ["in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]


def visium_counts_file(folder: str | Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "Space Ranger folder not found", "correct the 'expression' column of the sample sheet")
    return require_file(folder / COUNTS, COUNTS, "point 'expression' at the Space Ranger 'outs' folder")


def read_visium_positions(folder: str | Path, spots: str | Path | None = None) -> SpotPositions:
    folder = Path(folder)
    visium_counts_file(folder)
    spatial = folder / "spatial"
    positions = next(
        (p for p in (spatial / "tissue_positions.csv", spatial / "tissue_positions_list.csv") if p.is_file()), None
    )
    if positions is None:
        raise InputError(
            spatial, "no tissue_positions.csv or tissue_positions_list.csv", "copy the Space Ranger 'spatial' folder"
        )
    scalefactors = require_file(
        spatial / "scalefactors_json.json", "scalefactors_json.json", "copy the Space Ranger 'spatial' folder"
    )

    first = positions.read_text().split("\n", 1)[0].split(",")[0].strip().lower()
    try:
        table = pd.read_csv(positions, header=0 if first == "barcode" else None, index_col=0)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise InputError(
            positions,
            f"cannot be read as Space Ranger spot positions ({exc})",
            "re-copy the Space Ranger 'spatial' folder",
        ) from None
    if table.shape[1] != len(POSITION_COLUMNS):
        raise InputError(
            positions,
            f"{table.shape[1] + 1} columns where Space Ranger writes 6",
            f"give barcode, {', '.join(POSITION_COLUMNS)}",
        )
    table.columns = POSITION_COLUMNS
    check_unique(table.index, positions, "barcode")
    xy = table[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)

    try:
        factors = json.loads(scalefactors.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(scalefactors, f"not valid JSON ({exc})", "re-copy the Space Ranger 'spatial' folder") from None
    diameter = factors.get("spot_diameter_fullres")
    sizes = []
    if diameter:
        sizes.append(UmPerPx(SCALEFACTOR_SPOT_UM / float(diameter), "Visium spot_diameter_fullres (65 um)"))
    finite = np.isfinite(xy).all(axis=1)
    pitch = spot_pitch_px(xy[finite])
    if pitch:
        sizes.append(UmPerPx(SPOT_PITCH_UM["visium"] / pitch, f"Visium spot pitch (100 um = {pitch:.1f} px)"))
    return SpotPositions(
        path=positions,
        ids=table.index.astype(str),
        xy=xy,
        pixel_sizes=sizes,
        spot_diameter_px=float(diameter) if diameter else None,
        obs=table[["array_row", "array_col"]],
        in_tissue=table["in_tissue"].to_numpy() == 1,
    )


def peek_visium_counts(folder: str | Path, spots: str | Path | None = None) -> list[str]:
    """Opens the matrix; returns its gene names (the features' names, what ingest keeps)."""
    counts = visium_counts_file(Path(folder))
    try:
        with h5py.File(counts, "r") as f:
            if "matrix" not in f:
                raise InputError(
                    counts,
                    f"no 'matrix' group (groups: {list(f)})",
                    "give the Space Ranger filtered_feature_bc_matrix.h5 (Space Ranger 3 and later layout)",
                )
            names = f["matrix"].get("features/name")
            return [n.decode() if isinstance(n, bytes) else str(n) for n in names[:]] if names is not None else []
    except OSError as exc:
        raise InputError(
            counts,
            f"not a readable HDF5 file ({exc})",
            "re-copy the file from Space Ranger; an interrupted copy leaves a truncated file",
        ) from None


def read_visium_counts(folder: str | Path, positions: SpotPositions) -> ad.AnnData:
    import scanpy as sc  # not at import time: the pre-flight reads positions while the Snakefile is parsed

    counts = visium_counts_file(Path(folder))
    try:
        adata = sc.read_10x_h5(counts)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(counts, f"cannot read the count matrix ({exc})", "re-copy the file from Space Ranger") from exc
    check_unique(adata.obs_names, counts, "barcode")
    adata.var_names_make_unique()
    adata.X = check_raw_counts(adata.X, counts)
    if "gene_ids" in adata.var:
        adata.var["gene_ids"] = adata.var["gene_ids"].astype(str)
    return adata
