"""One error type for bad user input: it names the file and says how to fix it."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input detected before compute.

    The message always has the form ``<file>: <problem>. Fix: <fix>`` so that a user reading a
    Snakemake log knows which file to open and what to change.
    """

    def __init__(self, path: str | Path | None, problem: str, fix: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}. Fix: {fix}")
