"""Readers that turn each supported spatial format into one AnnData with raw counts and spot
centres in full-resolution slide pixels (``obsm["spatial"]`` as x, y)."""

from .common import SpotTable, check_raw_counts
from .hest import read_hest
from .legacy_st import read_legacy_st
from .visium import read_visium

READERS = {"visium": read_visium, "legacy_st": read_legacy_st, "hest": read_hest}

__all__ = ["READERS", "SpotTable", "check_raw_counts", "read_hest", "read_legacy_st", "read_visium"]
