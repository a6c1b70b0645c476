"""A sample of the sample sheet, with its paths resolved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    sample: str
    patient: str
    slide: Path | None
    expression: Path
    format: str
    spots: Path | None = None
    um_per_px: float | None = None
