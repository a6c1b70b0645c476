"""10x Visium Space Ranger output folders (Space Ranger 1.x to 3.x layouts), read with squidpy."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import squidpy as sq

from ...errors import InputError
from ...wsi.slide import UmPerPx
from .common import SpotTable, check_raw_counts, check_unique, require_file

log = logging.getLogger(__name__)

VISIUM_SPOT_DIAMETER_UM = 55.0


def read_visium(folder: str | Path, spots: str | Path | None = None) -> SpotTable:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "Space Ranger folder not found", "correct the 'expression' column of the sample sheet")
    counts_file = require_file(
        folder / "filtered_feature_bc_matrix.h5",
        "filtered_feature_bc_matrix.h5",
        "point 'expression' at the Space Ranger 'outs' folder",
    )
    spatial = folder / "spatial"
    positions = next(
        (p for p in (spatial / "tissue_positions.csv", spatial / "tissue_positions_list.csv") if p.is_file()), None
    )
    if positions is None:
        raise InputError(spatial, "no tissue_positions.csv or tissue_positions_list.csv", "copy the Space Ranger 'spatial' folder")
    scalefactors = require_file(spatial / "scalefactors_json.json", "scalefactors_json.json", "copy the Space Ranger 'spatial' folder")

    _check_positions_unique(positions)
    try:
        # squidpy attaches spot positions only together with the (small) low/high-res images
        adata = sq.read.visium(folder, counts_file=counts_file.name, load_images=True)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(counts_file, f"cannot read the count matrix ({exc})", "re-copy the file from Space Ranger") from exc
    adata.var_names_make_unique()
    check_unique(adata.obs_names, counts_file, "barcode")
    adata.X = check_raw_counts(adata.X, counts_file)

    xy = np.asarray(adata.obsm["spatial"], dtype=float)
    unmatched = ~np.isfinite(xy).all(axis=1)
    if unmatched.all():
        raise InputError(
            counts_file,
            f"none of the {adata.n_obs} barcodes of the count matrix appear in {positions.name}",
            "use the count matrix and spatial folder from the same Space Ranger run",
        )
    n_unmatched = int(unmatched.sum())
    if n_unmatched:
        log.warning("%s: %d barcodes have no position and are dropped", counts_file, n_unmatched)
        adata = adata[~unmatched].copy()
    adata.obsm["spatial"] = np.asarray(adata.obsm["spatial"], dtype=np.float64)

    factors = json.loads(scalefactors.read_text())
    diameter = factors.get("spot_diameter_fullres")
    from_spots = None
    if diameter:
        from_spots = UmPerPx(VISIUM_SPOT_DIAMETER_UM / float(diameter), "Visium spot diameter (55 um) in scalefactors")
    if "gene_ids" in adata.var:
        adata.var["gene_ids"] = adata.var["gene_ids"].astype(str)
    adata.uns.pop("spatial", None)
    return SpotTable(adata, float(diameter) if diameter else None, from_spots, n_unmatched)


def _check_positions_unique(positions: Path) -> None:
    first = positions.read_text().split("\n", 1)[0].split(",")[0].strip().lower()
    table = pd.read_csv(positions, header=0 if first == "barcode" else None, index_col=0)
    check_unique(table.index, positions, "barcode")
