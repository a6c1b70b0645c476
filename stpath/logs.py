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


def job_warnings(folder, since: float) -> list[str]:
    """The warnings this project's code logged in the job logs under ``folder`` written since
    ``since`` (a time.time()): what the run's console summary repeats, one ``log: message`` each
    (third-party warnings stay in the logs)."""
    from pathlib import Path

    found = []
    for path in sorted(Path(folder).rglob("*.log")):
        if path.stat().st_mtime < since:
            continue
        for line in path.read_text(errors="replace").splitlines():
            if " WARNING stpath." in line:
                found.append(f"{path}: {line.split(' WARNING ', 1)[1]}")
    return found


def print_job_warnings(folder, since: float) -> None:
    """``job_warnings`` on the console, under a count (nothing when there is none)."""
    warned = job_warnings(folder, since)
    if warned:
        print(f"{len(warned)} warning(s) in this run's job logs:", *warned, sep="\n  ")
