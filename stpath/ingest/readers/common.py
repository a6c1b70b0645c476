"""Checks shared by every reader."""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad

from ...wsi.slide import UmPerPx
from ..tables import check_raw_counts, check_unique, require_file

__all__ = ["SpotTable", "check_raw_counts", "check_unique", "require_file"]


@dataclass
class SpotTable:
    """What a reader returns: counts with spot centres, plus what the format says about geometry."""

    adata: ad.AnnData
    spot_diameter_px: float | None  # full-resolution pixels, when the format stores it
    um_per_px_from_spots: UmPerPx | None  # pixel size implied by a known physical spot pitch/size
    n_dropped_unmatched: int = 0  # spots present in only one of counts / positions
