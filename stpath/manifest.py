"""Owner of the index files (``index.tsv``: one row per sample, its file) by which a job that reads
every section depends on the sections' files, and of how a job's scripts see those files.

A job that reads every section of a cohort (cell2location, a model's predictions, the metrics) does
not list each section's file as an input: Snakemake checks every input of a job against every
output of the job that makes it, so a cohort of N sections would cost N x N checks for each such
pair of jobs (measured: the dry-run of 3,000 sections spent most of its time there). Instead a job
that makes one file per section writes an index of them as its first output, and a job that
reads them depends on that index and gets their paths in ``params.files``; where the files come
from one job per section, a gathering job writes their index. ``job_files`` gives a script its
inputs and those paths under one name each.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .atomic import atomic_path

COLUMNS = ["sample", "path"]


def write_index(path: str | Path, files: dict[str, str]) -> None:
    """The index of ``files`` (sample -> path), written atomically."""
    with atomic_path(path) as tmp:
        pd.DataFrame({"sample": list(files), "path": [str(p) for p in files.values()]}).to_csv(
            tmp, sep="\t", index=False
        )


def read_index(path: str | Path) -> dict[str, str]:
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return dict(zip(table["sample"], table["path"]))


def job_files(smk) -> dict:
    """A Snakemake script's inputs by name, with the section files it reads through an index
    (``params.files``: name -> path or list of paths) under their own names (duck-typed: no
    Snakemake import)."""
    files = dict(smk.input.items())
    files.update(dict(dict(smk.params.items()).get("files") or {}))
    return files
