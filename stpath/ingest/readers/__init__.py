"""Readers that turn each supported spatial format into one AnnData with raw counts and spot
centres in full-resolution slide pixels (``obsm["spatial"]`` as x, y).

Each format reads in three steps: its spot positions (and what their geometry says about the pixel
size), a cheap look at its counts file, then the counts themselves, matched to the positions. The
first two are cheap and run in the pre-flight, before any job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad

from .common import MIN_MATCHED_SPOTS, SpotPositions, SpotTable, check_raw_counts, match_spots
from .counts_table import peek_counts_table, read_coordinates, read_counts_table, read_counts_table_counts
from .hest import peek_hest_counts, read_hest, read_hest_counts, read_hest_positions
from .legacy_st import peek_legacy_st_counts, read_legacy_st, read_legacy_st_counts, read_legacy_st_positions
from .visium import peek_visium_counts, read_visium, read_visium_counts, read_visium_positions


@dataclass(frozen=True)
class Format:
    positions: Callable[[Path, Path | None], SpotPositions]  # (expression, spots)
    peek_counts: Callable[[Path, Path | None], None]  # opens the counts file, reads its header
    counts: Callable[[Path, SpotPositions], ad.AnnData]  # (expression, positions)


FORMATS = {
    "visium": Format(read_visium_positions, peek_visium_counts, read_visium_counts),
    "legacy_st": Format(read_legacy_st_positions, peek_legacy_st_counts, read_legacy_st_counts),
    "hest": Format(read_hest_positions, peek_hest_counts, read_hest_counts),
    "counts_table": Format(read_coordinates, peek_counts_table, read_counts_table_counts),
}

__all__ = [
    "FORMATS",
    "MIN_MATCHED_SPOTS",
    "Format",
    "SpotPositions",
    "SpotTable",
    "check_raw_counts",
    "match_spots",
    "read_counts_table",
    "read_hest",
    "read_legacy_st",
    "read_visium",
]
