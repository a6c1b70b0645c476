"""What both method branches report: Pearson r per column, and the long metric table.

Owner of the metric tables (``metrics/**/summary.tsv`` in ``COLUMNS``, and the per-gene and
per-type tables): ``write_table`` writes them, ``read_table`` reads them, ``stack_summaries``
joins the branches' summaries into ``metrics/summary.tsv``. Every written table states, per row, the
patient protocol of its test slides (column ``patients``: within-patient or cross-patient)."""

from __future__ import annotations

import pandas as pd

from .atomic import atomic_path
from .ingest.folds import patient_split

# one row per (model, reference, gene set or "cell_types", protocol, fold, test slide, metric)
COLUMNS = ["model", "target", "gene_set", "protocol", "fold", "test_sample", "metric", "value"]


def pearson_columns(pred, true):
    """Pearson r of every column across rows, for numpy arrays and torch tensors alike (no copy
    between devices); a constant column gives 0."""
    p = pred - pred.mean(0)
    t = true - true.mean(0)
    denom = ((p**2).sum(0) * (t**2).sum(0)) ** 0.5
    constant = denom == 0
    return (p * t).sum(0) / (denom + constant) * ~constant


def label_patients(table: pd.DataFrame, folds: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a ``patients`` column after ``protocol`` (else ``test_sample``): whether the
    row's test slide (or, for a pooled row, any test slide of its fold) has its patient among the
    fold's training. Decided once per (fold, test slide), not per row: per-gene tables are long."""
    tested = folds[folds["role"] == "test"].groupby("fold")["sample"].agg(list)
    keys = pd.MultiIndex.from_arrays([table["fold"].astype(int), table["test_sample"]])
    label = {
        (fold, sample): patient_split(folds, fold, [sample] if sample in tested.get(fold, []) else tested.get(fold, []))
        for fold, sample in keys.unique()
    }
    out = table.copy()
    after = "protocol" if "protocol" in out else "test_sample"
    out.insert(list(out.columns).index(after) + 1, "patients", [label[k] for k in keys])
    return out


def patients_phrase(table: pd.DataFrame) -> str:
    """The protocol of a table's rows, for figure titles."""
    kinds = sorted(set(table["patients"])) if "patients" in table else []
    return " and ".join(kinds) + (" test slides" if kinds else "")


def write_table(table: pd.DataFrame, path, float_format: str = "%.6g") -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format)


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def stack_summaries(paths) -> pd.DataFrame:
    return pd.concat([read_table(p) for p in paths], ignore_index=True)


HEADLINE_KEYS = ["model", "target", "gene_set", "metric"]


def headline(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-slide rows averaged as both releases report them: over the test slides of each
    fold, then over the folds (a fold that holds out more slides weighs no more than one that holds
    out fewer). One row per (model, target, gene set, metric), with ``n_folds`` and ``n_slides``;
    the ``patients`` column is kept when every averaged row has the same."""
    rows = summary[summary["protocol"] == "per_slide"]
    keys = HEADLINE_KEYS + (["patients"] if "patients" in rows else [])
    per_fold = rows.groupby(keys + ["fold"], dropna=False)["value"].agg(["mean", "size"]).reset_index()
    out = per_fold.groupby(keys, dropna=False).agg(
        value=("mean", "mean"), n_folds=("fold", "nunique"), n_slides=("size", "sum")
    )
    return out.reset_index()


LANDING_METRIC = "pearson_mean"  # each branch's main metric: per-slide Pearson r, as both papers report


def landing_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The report's landing-page table: one row per model, target and protocol (within- or
    cross-patient), one column per gene set (genes for the expression models, ``cell_types`` for
    the cell-type models) holding each branch's main metric in the released order (``headline``:
    per-slide Pearson r averaged over each fold's test slides, then folds). Rows by target, then
    best first on the target's first gene set; a gene set a row lacks is left empty."""
    rows = headline(summary)
    rows = rows[rows["metric"] == LANDING_METRIC]
    if "patients" not in rows:
        rows = rows.assign(patients="")
    table = rows.pivot_table(index=["target", "model", "patients"], columns="gene_set", values="value", sort=False)
    table = table[list(dict.fromkeys(rows["gene_set"]))].round(3).reset_index()
    table.columns.name = None
    first = table[table.columns[3:]].bfill(axis=1).iloc[:, 0]
    order = table.assign(_first=-first).sort_values(["target", "_first"], kind="stable").index
    return table.loc[order].reset_index(drop=True)
