"""HEST-1k samples: ``st/<id>.h5ad`` with raw counts and full-resolution spot centres."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np

from ...errors import InputError
from ..geometry import UmPerPx
from ..tables import check_raw_counts, check_unique, require_file
from .common import SpotPositions


def _open(h5ad: str | Path, backed: bool) -> ad.AnnData:
    h5ad = require_file(Path(h5ad), "HEST .h5ad", "correct the 'expression' column of the sample sheet")
    try:
        return ad.read_h5ad(h5ad, backed="r" if backed else None)
    except (OSError, KeyError) as exc:
        raise InputError(
            h5ad, f"cannot read the AnnData file ({exc})", "re-download the sample's st/<id>.h5ad"
        ) from exc


def read_hest_positions(h5ad: str | Path, spots: str | Path | None = None) -> SpotPositions:
    adata = _open(h5ad, backed=True)
    check_unique(adata.obs_names, h5ad, "barcode")
    if "spatial" in adata.obsm:
        xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)[:, :2]
    elif {"pxl_col_in_fullres", "pxl_row_in_fullres"} <= set(adata.obs.columns):
        xy = adata.obs[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)
    else:
        raise InputError(
            h5ad, "no spot coordinates (obsm['spatial'] or obs pxl_*_in_fullres)", "use the HEST st/<id>.h5ad file"
        )
    diameter = None
    for library in (adata.uns.get("spatial") or {}).values():
        diameter = (library.get("scalefactors") or {}).get("spot_diameter_fullres") or diameter
    ids = adata.obs_names.astype(str)
    adata.file.close()
    # HEST mixes technologies (Visium, legacy ST, Xenium pseudo-spots): the spots alone imply no
    # pixel size; the sample's HEST metadata gives one (and the spot diameter in um), compared
    # with the slide's and the sheet's like the Visium reader's.
    sizes = hest_pixel_sizes(metadata_file(h5ad, spots), float(diameter) if diameter else None)
    return SpotPositions(
        path=Path(h5ad), ids=ids, xy=xy, pixel_sizes=sizes, spot_diameter_px=float(diameter) if diameter else None
    )


def metadata_file(h5ad: str | Path, spots: str | Path | None) -> Path | None:
    """The sample's HEST metadata JSON: the sheet's ``spots`` column when it names a .json, else
    ``metadata/<id>.json`` beside the ``st/`` folder, as HEST-1k lays them out."""
    if spots and str(spots).endswith(".json"):
        return require_file(
            Path(spots),
            "HEST metadata JSON",
            "point the 'spots' column at the sample's metadata/<id>.json, or leave it empty",
        )
    sibling = Path(h5ad).parent.parent / "metadata" / f"{Path(h5ad).stem}.json"
    return sibling if sibling.is_file() else None


def hest_pixel_sizes(path: Path | None, spot_diameter_px: float | None) -> list[UmPerPx]:
    """What HEST's metadata says of the slide's pixel size: its estimate from the spot layout
    (``pixel_size_um_estimated``), and the spot diameter in um (``spot_diameter``) over the
    h5ad's ``spot_diameter_fullres`` in pixels."""
    if path is None:
        return []
    try:
        meta = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})", "re-download the sample's metadata/<id>.json") from None
    sizes = []
    estimated = meta.get("pixel_size_um_estimated")
    if isinstance(estimated, (int, float)) and estimated > 0:
        sizes.append(UmPerPx(float(estimated), "HEST metadata pixel_size_um_estimated"))
    diameter_um = meta.get("spot_diameter")
    if spot_diameter_px and isinstance(diameter_um, (int, float)) and diameter_um > 0:
        sizes.append(
            UmPerPx(
                float(diameter_um) / spot_diameter_px,
                f"HEST spot_diameter ({diameter_um:g} um) over spot_diameter_fullres",
            )
        )
    return sizes


def peek_hest_counts(h5ad: str | Path, spots: str | Path | None = None) -> list[str]:
    """Opens the AnnData; returns its gene names."""
    adata = _open(h5ad, backed=True)
    names = list(adata.var_names.astype(str))
    adata.file.close()
    return names


def read_hest_counts(h5ad: str | Path, positions: SpotPositions) -> ad.AnnData:
    adata = _open(h5ad, backed=False)
    adata.var_names_make_unique()
    return ad.AnnData(X=check_raw_counts(adata.X, h5ad), obs=adata.obs[[]].copy(), var=adata.var[[]].copy())
