"""HEST-1k samples: ``st/<id>.h5ad`` with raw counts and full-resolution spot centres."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np

from ...errors import InputError
from ..tables import check_raw_counts, check_unique, require_file
from .common import SpotPositions


def _open(h5ad: str | Path, backed: bool) -> ad.AnnData:
    h5ad = require_file(Path(h5ad), "HEST .h5ad", "correct the 'expression' column of the sample sheet")
    try:
        return ad.read_h5ad(h5ad, backed="r" if backed else None)
    except (OSError, KeyError) as exc:
        raise InputError(h5ad, f"cannot read the AnnData file ({exc})", "re-download the sample's st/<id>.h5ad") from exc


def read_hest_positions(h5ad: str | Path, spots: str | Path | None = None) -> SpotPositions:
    adata = _open(h5ad, backed=True)
    check_unique(adata.obs_names, h5ad, "barcode")
    if "spatial" in adata.obsm:
        xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)[:, :2]
    elif {"pxl_col_in_fullres", "pxl_row_in_fullres"} <= set(adata.obs.columns):
        xy = adata.obs[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)
    else:
        raise InputError(h5ad, "no spot coordinates (obsm['spatial'] or obs pxl_*_in_fullres)", "use the HEST st/<id>.h5ad file")
    diameter = None
    for library in (adata.uns.get("spatial") or {}).values():
        diameter = (library.get("scalefactors") or {}).get("spot_diameter_fullres") or diameter
    ids = adata.obs_names.astype(str)
    adata.file.close()
    # HEST mixes technologies (Visium, legacy ST, Xenium pseudo-spots): no pixel size is implied by
    # the spots, it must come from the slide or the sample sheet.
    return SpotPositions(path=Path(h5ad), ids=ids, xy=xy, pixel_sizes=[], spot_diameter_px=float(diameter) if diameter else None)


def peek_hest_counts(h5ad: str | Path, spots: str | Path | None = None) -> None:
    _open(h5ad, backed=True).file.close()


def read_hest_counts(h5ad: str | Path, positions: SpotPositions) -> ad.AnnData:
    adata = _open(h5ad, backed=False)
    adata.var_names_make_unique()
    return ad.AnnData(X=check_raw_counts(adata.X, h5ad), obs=adata.obs[[]].copy(), var=adata.var[[]].copy())
