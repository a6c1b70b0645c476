"""Readers that turn each supported spatial format into one AnnData with raw counts and spot
centres in full-resolution slide pixels (``obsm["spatial"]`` as x, y)."""

from .common import SpotTable, check_raw_counts
from .counts_table import read_counts_table
from .hest import read_hest
from .legacy_st import read_legacy_st
from .visium import read_visium

READERS = {
    "visium": read_visium,
    "legacy_st": read_legacy_st,
    "hest": read_hest,
    "counts_table": read_counts_table,
}

__all__ = [
    "READERS",
    "SpotTable",
    "check_raw_counts",
    "read_counts_table",
    "read_hest",
    "read_legacy_st",
    "read_visium",
]
