"""Count tables from text and matrix files: reading, orientation and the checks every count
matrix gets (raw integers, unique ids). No slide or spatial-format dependencies."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError

WHOLE_TABLE = "give the whole table (a header line, then one line per spot or gene); check that the export did not stop after the header"
SHEET_FIX = "point the sample sheet at the raw count matrix (e.g. filtered_feature_bc_matrix.h5)"


def _not_counts(data: np.ndarray) -> np.ndarray:
    """Which stored values are no raw count (negative or fractional)."""
    return (data < 0) | (np.mod(data, 1) != 0)


def is_raw_counts(X) -> bool:
    """Every stored value is a finite non-negative integer."""
    data = sp.csr_matrix(X).data
    return bool(np.all(np.isfinite(data))) and not _not_counts(data).any()


def check_raw_counts(X, path: str | Path, fix: str = SHEET_FIX) -> sp.csr_matrix:
    """Return counts as int32 CSR; refuse negative, non-integer or non-finite values."""
    X = sp.csr_matrix(X)
    data = X.data
    if data.size and not np.all(np.isfinite(data)):
        raise InputError(path, "counts contain NaN or infinite values", "give the raw UMI count matrix")
    bad = data[_not_counts(data)][:3]
    if bad.size:
        raise InputError(
            path,
            f"counts are not raw non-negative integers (e.g. {bad.tolist()}); normalised or log values "
            "were given where raw counts are required",
            fix,
        )
    return sp.csr_matrix(X, dtype=np.int32)


def check_unique(names, path: str | Path, what: str) -> None:
    names = np.asarray(names).astype(str)
    uniq, counts = np.unique(names, return_counts=True)
    dup = uniq[counts > 1]
    if dup.size:
        raise InputError(
            path,
            f"{dup.size} duplicate {what}(s), e.g. {dup[:3].tolist()}",
            f"make every {what} unique in this file (one row per spot)",
        )


def require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise InputError(path, f"{what} not found", fix)
    return path


def read_table(path: Path, sep: str | None = None) -> pd.DataFrame:
    """CSV or TSV (optionally gzipped) with row names in the first column, and at least one data
    row and column. The separator follows the suffix unless given."""
    sep = sep or _separator(path)
    with _read_errors(path, sep):
        table = pd.read_csv(path, sep=sep, index_col=0)
    header = pd.Series(header_names(path, sep, mangled=False))
    repeated = sorted(set(header[header.duplicated()]))
    if repeated:  # pandas would rename the second 'KRT8' to 'KRT8.1' and the gene would be lost
        raise InputError(
            path,
            f"{len(repeated)} column name(s) appear more than once in the header, e.g. {repeated[:3]}",
            "make every column name unique (for a gene measured twice, sum its counts into one column)",
        )
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise InputError(
            path,
            f"the {_kind(sep)} table has {table.shape[0]} data row(s) and {table.shape[1]} data column(s) after the row names",
            WHOLE_TABLE,
        )
    return table


def peek_table(path: Path, sep: str | None = None) -> None:
    """Refuse an empty, header-only or single-column table from its first two lines (cheap: a
    15,000-gene header is not parsed into columns)."""
    sep = sep or _separator(path)
    try:
        with _read_errors(path, sep):
            head = pd.read_csv(path, sep=sep, header=None, nrows=2, usecols=[0, 1], dtype=str)
    except InputError:
        raise
    except ValueError:  # usecols out of range: one column only
        raise InputError(
            path,
            f"the {_kind(sep)} table has a single column",
            f"give row names first, then the counts, separated by {'tabs' if sep == chr(9) else 'commas'}",
        ) from None
    if len(head) < 2:
        raise InputError(path, f"the {_kind(sep)} table has a header but no data rows", WHOLE_TABLE)


def header_names(path: Path, sep: str | None = None, mangled: bool = True) -> list[str]:
    """The column names of a table after its row-name column, from its first line (``mangled``:
    as pandas names them, a repeated name suffixed ``.1``; else as written)."""
    sep = sep or _separator(path)
    with _read_errors(path, sep):
        if mangled:
            return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns[1:]]
        return pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str).iloc[0, 1:].astype(str).tolist()


def row_names(path: Path, sep: str | None = None) -> list[str]:
    """The row names (first column) of a table."""
    sep = sep or _separator(path)
    with _read_errors(path, sep):
        return pd.read_csv(path, sep=sep, usecols=[0], dtype=str).iloc[:, 0].astype(str).tolist()


@contextmanager
def _read_errors(path: Path, sep: str):
    """pandas' errors on an empty or unparsable file, as an InputError naming it."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise InputError(
            path,
            f"the {_kind(sep)} file is empty (no header line)",
            "re-export or re-download the table; an interrupted copy leaves 0-byte files",
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        packed = _packed(path)
        if packed:
            raise InputError(path, f"the file is {packed[0]}, but its name does not say so", packed[1]) from None
        raise InputError(
            path,
            f"cannot be read as a {_kind(sep)} table ({exc})",
            "give a plain-text table with row names in the first column",
        ) from None


def _packed(path: Path) -> tuple[str, str] | None:
    """What a file that is not plain text really is, from its first bytes (gzip, zip)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip-compressed", f"name it {path.name}.gz (pandas then reads it), or gunzip it"
    if magic == b"PK\x03\x04":
        return "a zip archive", "unpack it and point the sample sheet at the table inside"
    return None


def _kind(sep: str) -> str:
    return "TSV" if sep == "\t" else "CSV"


def _separator(path: Path) -> str:
    return "\t" if ".tsv" in path.suffixes or ".txt" in path.suffixes else ","


def orient_counts(table: pd.DataFrame, ids: pd.Index, path: Path, what: str) -> pd.DataFrame:
    """Return ``table`` as ids x genes, transposing a genes x ids table; the ids decide."""
    ids = ids.astype(str)
    in_rows = table.index.astype(str).isin(ids).sum()
    in_cols = table.columns.astype(str).isin(ids).sum()
    if max(in_rows, in_cols) == 0:
        raise InputError(
            path,
            f"none of its row or column names matches a {what} id of the paired table (e.g. {list(ids[:2])})",
            f"pair the counts with the {what} table of the same data set",
        )
    return table.T if in_cols > in_rows else table
