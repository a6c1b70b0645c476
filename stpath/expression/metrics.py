"""Evaluation of predicted expression, in both protocols the field uses.

Per test slide (CMRCNet's code): Pearson r per gene across the slide's spots (NaN -> 0), averaged
over the slide's own top-50 highly expressed genes (largest sum), top-50 highly variable genes
(largest variance) and a marker list. HEST-Benchmark: one fixed list of 50 HVGs chosen on the
training slides, r pooled over all test spots of the fold. Plus the preservation of gene-gene
correlation: r between the predicted and measured gene-gene correlation matrices (upper triangle).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..genes.files import read_expression
from ..metrics import COLUMNS, pearson_columns
from ..predictions import SpotPrediction


def heg_indices(true: np.ndarray, n: int) -> np.ndarray:
    """Columns of the ``n`` highest expressed genes of a slide (largest sum)."""
    return np.argsort(-true.sum(axis=0), kind="stable")[:n]


def hvg_indices(true: np.ndarray, n: int) -> np.ndarray:
    """Columns of the ``n`` most variable genes of a slide (largest variance)."""
    return np.argsort(-true.var(axis=0), kind="stable")[:n]


def correlation_preservation(pred: np.ndarray, true: np.ndarray) -> float:
    """r between the upper triangles of the predicted and measured gene-gene correlation matrices."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cp = np.nan_to_num(np.corrcoef(pred.T))
        ct = np.nan_to_num(np.corrcoef(true.T))
    iu = np.triu_indices_from(cp, k=1)
    a, b = cp[iu], ct[iu]
    if len(a) < 2:  # fewer than three genes: no correlation structure to compare
        return float("nan")
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def slide_gene_sets(true: np.ndarray, genes: list[str], markers: list[str], n: int = 50) -> dict[str, np.ndarray]:
    sets = {f"heg{n}": heg_indices(true, n), f"hvg{n}": hvg_indices(true, n)}
    marker_idx = np.array([genes.index(g) for g in markers if g in genes], dtype=int)
    if marker_idx.size:
        sets["markers"] = marker_idx
    return sets


def per_slide(
    model: str,
    fold: int,
    sample: str,
    pred: np.ndarray,
    true: np.ndarray,
    genes: list[str],
    markers: list[str],
    n: int = 50,
) -> pd.DataFrame:
    r = pearson_columns(pred, true)
    rows = []
    for name, idx in slide_gene_sets(true, genes, markers, n).items():
        rows.append((model, "expression", name, "per_slide", fold, sample, "pearson_mean", float(r[idx].mean())))
        rows.append(
            (
                model,
                "expression",
                name,
                "per_slide",
                fold,
                sample,
                "gene_corr_preservation",
                correlation_preservation(pred[:, idx], true[:, idx]),
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def hest(
    model: str, fold: int, preds: list[np.ndarray], trues: list[np.ndarray], train_expression: np.ndarray, n: int = 50
) -> pd.DataFrame:
    idx = hvg_indices(train_expression, n)
    pred, true = np.concatenate(preds), np.concatenate(trues)
    r = pearson_columns(pred[:, idx], true[:, idx])
    return pd.DataFrame(
        [(model, "expression", f"hvg{n}_train", "hest", fold, "all", "pearson_mean", float(r.mean()))], columns=COLUMNS
    )


def per_gene(model: str, fold: int, sample: str, pred: np.ndarray, true: np.ndarray, genes: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": model,
            "fold": fold,
            "test_sample": sample,
            "gene": genes,
            "pearson_r": pearson_columns(pred, true),
            "mean_expression": true.mean(axis=0),
        }
    )


def evaluate_expression(
    predictions: list[SpotPrediction],
    folds: pd.DataFrame,
    expression_paths: dict[str, str],
    markers: list[str],
    n: int = 50,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary rows (both protocols) and per-gene rows of the held-out slides' predictions. Each
    training slide's expression is read once per fold, whatever the number of models."""
    summary, genes_table = [], []
    train_cache: dict[int, np.ndarray] = {}
    keys = pd.DataFrame([(p.model, p.fold) for p in predictions], columns=["model", "fold"])
    for (model, fold), group in keys.groupby(["model", "fold"]):
        preds, trues = [], []
        for i in group.index:
            p = predictions[i]
            genes, sample = list(p.predicted.columns), p.sample
            pred, true = p.predicted.to_numpy(), p.target.to_numpy()
            summary.append(per_slide(model, fold, sample, pred, true, genes, markers, n))
            genes_table.append(per_gene(model, fold, sample, pred, true, genes))
            preds.append(pred)
            trues.append(true)
        if fold not in train_cache:
            train = folds[(folds["fold"] == fold) & (folds["role"] == "train")]["sample"]
            train_cache[fold] = np.concatenate([read_expression(expression_paths[s], genes) for s in train])
        summary.append(hest(model, fold, preds, trues, train_cache[fold], n))
    return pd.concat(summary, ignore_index=True), pd.concat(genes_table, ignore_index=True)


def pcc_overview(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean PCC per model, protocol and gene set over test slides and folds (for the log)."""
    pcc = summary[summary.metric == "pearson_mean"]
    return pcc.groupby(["model", "gene_set", "protocol"]).value.mean().unstack(["protocol", "gene_set"])
