"""Route a step's logging, warnings and progress bars to its Snakemake log file."""

from __future__ import annotations

import logging
import sys
import warnings


def to_file(path: str | None, level: int = logging.INFO) -> None:
    if path:
        stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        sys.stderr = stream  # tqdm and warnings write to stderr
        sys.stdout = stream
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=FutureWarning)
