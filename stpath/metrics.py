"""What both method branches report: Pearson r per column, and the long metric table.

Owner of the metric tables (``metrics/**/summary.tsv`` in ``COLUMNS``, and the per-gene and
per-type tables): ``write_table`` writes them, ``read_table`` reads them, ``stack_summaries``
joins the branches' summaries into ``metrics/summary.tsv``. Every written table states, per row, the
patient protocol of its test slides (column ``patients``: within-patient or cross-patient)."""

from __future__ import annotations

import pandas as pd

from .atomic import atomic_path
from .ingest.folds import patient_split

# one row per (model, reference, gene set or "cell_types", protocol, fold, test slide, metric), as
# the branches' evaluators make them; the written tables add the training seed after ``model``
COLUMNS = ["model", "target", "gene_set", "protocol", "fold", "test_sample", "metric", "value"]
SEED = "seed"


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


def by_seed(predictions: list, evaluate) -> tuple[pd.DataFrame, ...]:
    """``evaluate`` (a branch's evaluator: predictions in, tables out) run on the predictions of
    each training seed apart, its tables joined with a ``seed`` column after ``model`` (a prediction
    that records no seed counts as one run, seed empty)."""
    seeds = list(dict.fromkeys(p.seed for p in predictions))
    parts = []
    for seed in seeds:
        tables = evaluate([p for p in predictions if p.seed == seed])
        parts.append([t.assign(**{SEED: seed}) for t in tables])
    out = []
    for tables in zip(*parts):
        joined = pd.concat(tables, ignore_index=True)
        cols = [c for c in joined.columns if c != SEED]
        at = cols.index("model") + 1 if "model" in cols else 0
        out.append(joined[cols[:at] + [SEED] + cols[at:]])
    return tuple(out)


def seeds_phrase(table: pd.DataFrame) -> str:
    """How many training seeds a table's rows hold, for figure titles."""
    n = table[SEED].nunique(dropna=False) if SEED in table and len(table) else 1
    return "1 training seed" if n == 1 else f"mean over {n} training seeds"


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
    out fewer); with several training seeds, that average per seed, then its mean (``value``) and
    standard deviation (``sd``, empty for one seed) over the seeds. One row per (model, target, gene
    set, metric), with ``n_seeds``, ``n_folds`` and ``n_slides`` (per seed); the ``patients``
    column is kept when every averaged row has the same."""
    rows = summary[summary["protocol"] == "per_slide"]
    if SEED not in rows:
        rows = rows.assign(**{SEED: 0})
    keys = HEADLINE_KEYS + (["patients"] if "patients" in rows else [])
    rows = rows.assign(**{SEED: rows[SEED].fillna(-1)})
    per_fold = rows.groupby(keys + [SEED, "fold"], dropna=False)["value"].agg(["mean", "size"]).reset_index()
    per_seed = per_fold.groupby(keys + [SEED], dropna=False).agg(
        value=("mean", "mean"), n_folds=("fold", "nunique"), n_slides=("size", "sum")
    )
    out = per_seed.reset_index().groupby(keys, dropna=False, sort=False)
    out = out.agg(
        value=("value", "mean"),
        sd=("value", "std"),
        n_seeds=(SEED, "nunique"),
        n_folds=("n_folds", "max"),
        n_slides=("n_slides", "max"),
    )
    return out.reset_index().sort_values(keys, kind="stable").reset_index(drop=True)


LANDING_METRIC = "pearson_mean"  # each branch's main metric: per-slide Pearson r, as both papers report


def landing_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The report's landing-page table: one row per model, target and protocol (within- or
    cross-patient), one column per gene set (genes for the expression models, ``cell_types`` for
    the cell-type models) holding each branch's main metric in the released order (``headline``:
    per-slide Pearson r averaged over each fold's test slides, then folds). Rows by target, then
    best first on the target's first gene set; a gene set a row lacks is left empty. With several
    training seeds each gene set's column is their mean, ``<gene set>_sd`` their standard deviation,
    and ``seeds`` how many."""
    rows = headline(summary)
    rows = rows[rows["metric"] == LANDING_METRIC]
    if "patients" not in rows:
        rows = rows.assign(patients="")
    sets = list(dict.fromkeys(rows["gene_set"]))
    index = ["target", "model", "patients"]
    table = rows.pivot_table(index=index, columns="gene_set", values="value", sort=False)[sets].round(3)
    several = bool((rows["n_seeds"] > 1).any())
    if several:  # each gene set's spread over the seeds beside it, and the number of seeds
        sd = rows.pivot_table(index=index, columns="gene_set", values="sd", sort=False, dropna=False)
        sd = sd.reindex(index=table.index, columns=sets).round(3).add_suffix("_sd")
        seeds = rows.groupby(index, sort=False)["n_seeds"].max().reindex(table.index).rename("seeds")
        table = pd.concat([table, sd], axis=1)[[c for s in sets for c in (s, f"{s}_sd")]].join(seeds)
    table = table.reset_index()
    table.columns.name = None
    first = table[sets].bfill(axis=1).iloc[:, 0]
    order = table.assign(_first=-first).sort_values(["target", "_first"], kind="stable").index
    return table.loc[order].reset_index(drop=True)
