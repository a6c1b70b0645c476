"""What every reader returns, and the join of a format's counts with its spot positions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ...errors import InputError
from ..geometry import UmPerPx

log = logging.getLogger(__name__)

MIN_MATCHED_SPOTS = 0.8  # default share of counted spots that must have a position


@dataclass
class SpotPositions:
    """Where a sample's spots are, read without its counts (cheap enough for the pre-flight)."""

    path: Path  # the file that holds them
    ids: pd.Index
    xy: np.ndarray  # (n, 2) centres in full-resolution slide pixels, x then y
    pixel_sizes: list[UmPerPx]  # what the technology's spot size and pitch imply
    spot_diameter_px: float | None  # full-resolution pixels, when the format stores it
    obs: pd.DataFrame = field(default_factory=pd.DataFrame)  # per-spot extras (array coordinates)
    # Visium lists every spot of the array: True for the spots Space Ranger put under tissue. None
    # for formats that list only the spots they counted.
    in_tissue: np.ndarray | None = None

    @property
    def ids_under_tissue(self) -> pd.Index:
        """The spots a sample is analysed with: all of them, or Visium's under tissue."""
        return self.ids if self.in_tissue is None else self.ids[np.asarray(self.in_tissue, bool)]


@dataclass
class SpotTable:
    """Counts of the spots that have a position, ``obsm["spatial"]`` as x, y."""

    adata: ad.AnnData
    positions: SpotPositions
    n_dropped_unmatched: int = 0  # counted spots without a position, and listed spots without counts


def match_spots(
    counts: ad.AnnData, positions: SpotPositions, counts_path: Path, min_matched: float = MIN_MATCHED_SPOTS
) -> SpotTable:
    """Keep the counted spots that have a position. Refuse when fewer than ``min_matched`` of them
    do (counts paired with another section's positions), and, for Visium, when the matrix's
    barcodes are not the spots under tissue (a matrix paired with another slide's spatial folder)."""
    counted = counts.obs_names.astype(str)
    listed = positions.ids.astype(str)
    shared = counted[counted.isin(listed)]
    n_counted = len(counted)
    if len(shared) == 0 or len(shared) < min_matched * n_counted:
        raise InputError(
            counts_path,
            f"only {len(shared)} of the {n_counted} counted spots have a position in {positions.path} "
            f"(e.g. counted {list(counted[~counted.isin(listed)][:2])}, listed {list(listed[:2])})",
            "pair each counts file with the spot positions of the same section (the sample sheet's 'spots' or the "
            f"Space Ranger 'spatial' folder of the same run); qc.min_matched_spots ({min_matched:g}) sets the share required",
        )
    n_unlisted = n_counted - len(shared)
    n_uncounted = 0 if positions.in_tissue is not None else int((~listed.isin(counted)).sum())
    if n_unlisted or n_uncounted:
        log.warning(
            "%s: %d counted spots have no position and %d listed spots have no counts; %d spots kept",
            counts_path,
            n_unlisted,
            n_uncounted,
            len(shared),
        )
    order = listed.get_indexer(shared)
    if positions.in_tissue is not None:
        _check_under_tissue(positions, order, counts_path)
    adata = counts[shared.to_numpy()].copy() if n_unlisted else counts
    adata.obsm["spatial"] = np.asarray(positions.xy[order], dtype=np.float64)
    for column in positions.obs.columns:
        adata.obs[column] = positions.obs[column].to_numpy()[order]
    return SpotTable(adata, positions, n_unlisted + n_uncounted)


def _check_under_tissue(positions: SpotPositions, order: np.ndarray, counts_path: Path) -> None:
    """A filtered Visium matrix holds the barcodes its own run put under tissue (all of them, or a
    subsample of them). Refuse when more than ``max(5, 1 %)`` of the matrix's barcodes are flagged
    off tissue, or when any are and, counted with the flagged barcodes the matrix lacks, they pass
    that tolerance (two sections differ both ways; a subsample of one never has a barcode off
    tissue). The slide's patch job then compares the flags with the tissue it detects
    (``wsi.tissue.check_array_agreement``)."""
    flagged = positions.in_tissue
    off = int((~flagged[order]).sum())
    counted = np.zeros(len(flagged), bool)
    counted[order] = True
    missing = int((flagged & ~counted).sum())
    allowed = max(5, int(0.01 * len(order)))
    if off > allowed or (off and off + missing > allowed):
        raise InputError(
            counts_path,
            f"{off} of the {len(order)} barcodes of the filtered matrix are not under tissue in {positions.path} "
            f"(in_tissue = 0) and {missing} of its {int(flagged.sum())} barcodes under tissue have no counts: the matrix "
            "and the spatial folder come from different sections or runs",
            "use the filtered_feature_bc_matrix.h5 and the spatial/ folder of the same Space Ranger run",
        )
