"""Per-cell-type expression signatures as a table (genes x cell types, expected counts per cell).

Owner of ``deconvolution/reference/signatures.tsv``: ``write_signatures`` writes it,
``read_signature_table`` reads it; ``read_signatures`` reads and checks a user's precomputed table.
Apart from the reference regression so that reading a table imports no torch or Lightning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError
from ..ingest.tables import read_table


def read_signatures(path: Path) -> pd.DataFrame:
    """A precomputed signature table (genes x cell types, expected counts per cell), checked."""
    if not path.is_file():
        raise InputError(
            path,
            "signature table not found",
            "set deconvolution.reference.signatures to an existing CSV/TSV (genes x cell types)",
        )
    table = read_table(path)
    numeric = table.apply(pd.to_numeric, errors="coerce")
    if table.shape[1] < 2:
        raise InputError(
            path,
            f"{table.shape[1]} cell-type column(s); deconvolution needs at least 2",
            "give genes in rows and one column per cell type",
        )
    if numeric.isna().any().any():
        col = numeric.columns[numeric.isna().any()][0]
        raise InputError(
            path,
            f"column {col!r} has missing or non-numeric values",
            "give genes in rows, cell types in columns, numbers only",
        )
    if (numeric.to_numpy() < 0).any() or not np.isfinite(numeric.to_numpy()).all():
        raise InputError(
            path, "negative or infinite expression values", "give non-negative mean expression per cell type"
        )
    if numeric.index.duplicated().any():
        dup = numeric.index[numeric.index.duplicated()][:3].tolist()
        raise InputError(path, f"duplicate gene(s) {dup}", "give one row per gene")
    numeric.index = numeric.index.astype(str)
    numeric.index.name = "gene"
    return numeric


def write_signatures(signatures: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        signatures.to_csv(tmp, sep="\t", float_format="%.6g")


def read_signature_table(path) -> pd.DataFrame:
    """The workflow's own signature table (written by ``write_signatures``)."""
    return pd.read_csv(path, sep="\t", index_col=0)
