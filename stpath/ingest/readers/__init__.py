"""Readers that turn each supported spatial format into one AnnData with raw counts and spot
centres in full-resolution slide pixels (``obsm["spatial"]`` as x, y).

Each format reads in three steps: its spot positions (and what their geometry says about the pixel
size), a cheap look at its counts file, then the counts themselves, matched to the positions
(``read_spots``). The first two are cheap and run in the pre-flight, before any job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad

from .common import MIN_MATCHED_SPOTS, SpotPositions, SpotTable, match_spots
from .counts_table import peek_counts_table, read_coordinates, read_counts_table_counts
from .hest import peek_hest_counts, read_hest_counts, read_hest_positions
from .legacy_st import peek_legacy_st_counts, read_legacy_st_counts, read_legacy_st_positions
from .visium import peek_visium_counts, read_visium_counts, read_visium_positions, visium_counts_file


@dataclass(frozen=True)
class Format:
    positions: Callable[[Path, Path | None], SpotPositions]  # (expression, spots)
    peek_counts: Callable[
        [Path, Path | None], list[str]
    ]  # opens the counts file; its gene names (or names among which they are)
    counts: Callable[[Path, SpotPositions], ad.AnnData]  # (expression, positions)
    counts_file: Callable[[Path], Path] = Path  # the file the counts come from (named in messages)


FORMATS = {
    "visium": Format(read_visium_positions, peek_visium_counts, read_visium_counts, visium_counts_file),
    "legacy_st": Format(read_legacy_st_positions, peek_legacy_st_counts, read_legacy_st_counts),
    "hest": Format(read_hest_positions, peek_hest_counts, read_hest_counts),
    "counts_table": Format(read_coordinates, peek_counts_table, read_counts_table_counts),
}


def read_spots(
    format: str,
    expression: str | Path,
    spots: str | Path | None = None,
    min_matched: float = MIN_MATCHED_SPOTS,
    positions: SpotPositions | None = None,
) -> SpotTable:
    """Counts of ``format`` matched to their spot positions (read unless given)."""
    fmt = FORMATS[format]
    expression = Path(expression)
    spots = Path(spots) if spots not in (None, "") else None
    positions = positions or fmt.positions(expression, spots)
    return match_spots(fmt.counts(expression, positions), positions, fmt.counts_file(expression), min_matched)


__all__ = ["FORMATS", "MIN_MATCHED_SPOTS", "Format", "SpotPositions", "SpotTable", "read_spots"]
