"""Checks of the estimated abundances: against known truth (the demo), and, without truth, against
the expression of each cell type's reference marker genes (the check a biologist does first)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .output import proportions


def pearson(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def accuracy(estimates: dict[str, pd.DataFrame], truth: pd.DataFrame, sample_of: pd.Series) -> pd.DataFrame:
    """Per-cell-type Pearson r of each estimate vs the true abundances and of the proportions vs the
    true proportions, over all spots pooled ('all') and per sample. Long table with a 'mean' row
    (over cell types) for every (sample, estimate, measure)."""
    truth = truth.loc[next(iter(estimates.values())).index]
    true = {"abundance": truth, "proportion": proportions(truth)}
    groups = [("all", np.ones(len(truth), bool))] + [(s, (sample_of == s).to_numpy()) for s in sample_of.unique()]
    rows = []
    for name, est in estimates.items():
        est = est[truth.columns]
        mine = {"abundance": est, "proportion": proportions(est)}
        for measure in ("abundance", "proportion"):
            for group, keep in groups:
                rs = {t: pearson(mine[measure].loc[keep, t], true[measure].loc[keep, t]) for t in truth.columns}
                rows += [(group, name, measure, t, r) for t, r in rs.items()]
                rows.append((group, name, measure, "mean", float(np.nanmean(list(rs.values())))))
    return pd.DataFrame(rows, columns=["sample", "estimate", "measure", "cell_type", "pearson_r"])


def marker_genes(signatures: pd.DataFrame, genes, n_markers: int) -> dict[str, list[str]]:
    """For each type, the ``n_markers`` genes (among ``genes``) it expresses most specifically: genes
    where it has the highest signature, ranked by the fold change over the next-highest type."""
    sig = signatures.loc[signatures.index.intersection(list(genes))]
    top = sig.idxmax(axis=1)
    second = np.sort(sig.to_numpy(), axis=1)[:, -2]
    fold = sig.max(axis=1) / (second + 1e-9)
    out = {}
    for t in signatures.columns:
        own = fold[top == t].sort_values(ascending=False)
        out[t] = list(own.index[:n_markers])
    return out


def marker_check(
    abundance: pd.DataFrame, counts: pd.DataFrame, signatures: pd.DataFrame, n_markers: int
) -> pd.DataFrame:
    """Per type: Pearson r across spots between its abundance and the summed expression (counts per
    10k, summed over markers) of its top reference markers; a 'mean' row over the types with markers."""
    cp10k = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0) * 1e4
    markers = marker_genes(signatures, counts.columns, n_markers)
    rows = []
    for t in abundance.columns:
        genes = markers.get(t, [])
        r = pearson(abundance[t], cp10k[genes].sum(axis=1)) if genes else float("nan")
        rows.append((t, len(genes), ",".join(genes), r))
    table = pd.DataFrame(rows, columns=["cell_type", "n_markers", "markers", "pearson_r"])
    mean = pd.DataFrame(
        [("mean", int(table.n_markers.sum()), "", float(np.nanmean(table.pearson_r)))], columns=table.columns
    )
    return pd.concat([table, mean], ignore_index=True)
