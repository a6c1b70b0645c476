"""Evaluation of predicted cell-type abundances, as CUCA's evaluation scripts do it: per cell type,
Pearson r (on the raw prediction), Spearman r and the Jensen-Shannon distance (on the prediction
clipped at 0; ``jsd``, scipy's, as the released per-slide figure) and its square (``jsd_squared``, the divergence the released pooled figure reports) between
the predicted and the reference column, over all test spots of a fold pooled ('pooled') and per
test slide ('per_slide'); then the mean over cell types. A cell type constant over the spots
scored has no correlation: NaN, skipped by the mean, as released. References: the deconvolution
labels and, for the demo, the true abundances."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import spearmanr

from ..deconvolution.truth import spot_key
from ..metrics import COLUMNS, pearson_columns
from ..predictions import SpotPrediction

METRICS = ("pearson", "spearman", "jsd", "jsd_squared")


def clipped(prediction: pd.DataFrame) -> pd.DataFrame:
    """The clipped view of a held-out prediction, which is saved raw: Pearson and Moran's R are
    computed on the raw values, Spearman, JS distance and the maps on this view (as released)."""
    return prediction.clip(lower=0)


def per_type(pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric per cell type (column), as the released evaluation: Pearson r on the raw
    prediction; Spearman r and the JS distance on the prediction clipped at 0 (the JSD treating each
    column as a distribution over spots, +1e-8 as the reference code). A column constant in the
    prediction or the reference gives NaN correlations (scipy's, as the released code)."""
    clip = np.maximum(pred, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = spearmanr(clip, true, axis=0).statistic if len(pred) > 2 else np.full(pred.shape[1], np.nan)
    if np.ndim(rho) == 2:  # spearmanr returns the full (2K x 2K) matrix for K > 1 columns
        k = pred.shape[1]
        rho = np.diag(rho[:k, k:])
    flat_true = np.ptp(true, axis=0) == 0
    pearson = np.where((np.ptp(pred, axis=0) == 0) | flat_true, np.nan, pearson_columns(pred, true))
    spearman = np.where((np.ptp(clip, axis=0) == 0) | flat_true, np.nan, np.asarray(rho, float))
    jsd = np.array([jensenshannon(p + 1e-8, np.clip(t, 0, None) + 1e-8) for p, t in zip(clip.T, true.T)])
    return {"pearson": pearson, "spearman": spearman, "jsd": jsd, "jsd_squared": jsd**2}


def score_fold(
    pred: pd.DataFrame, reference: pd.DataFrame, sample_of: pd.Series, model: str, target: str, fold: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary rows (``COLUMNS``) and per-type rows for one model and fold's test spots; ``pred``
    and ``reference`` are spots x cell types with the same index, ``sample_of`` the spot's slide."""
    types = list(reference.columns)
    pred = pred.loc[reference.index, types]
    groups = [("pooled", "all", np.ones(len(reference), bool))]
    groups += [("per_slide", s, (sample_of.loc[reference.index] == s).to_numpy()) for s in sorted(sample_of.unique())]
    summary, table = [], []
    for protocol, sample, keep in groups:
        values = per_type(pred.to_numpy()[keep], reference.to_numpy()[keep])
        for metric, v in values.items():
            summary.append(
                (model, target, "cell_types", protocol, fold, sample, f"{metric}_mean", float(np.nanmean(v)))
            )
        table.append(
            pd.DataFrame(
                {
                    "model": model,
                    "target": target,
                    "protocol": protocol,
                    "fold": fold,
                    "test_sample": sample,
                    "cell_type": types,
                }
                | values
            )
        )
    return pd.DataFrame(summary, columns=COLUMNS), pd.concat(table, ignore_index=True)


def evaluate_cell_types(
    predictions: list[SpotPrediction], truth: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary and per-type rows of the held-out slides' predictions, per model and fold over its
    test slides; against their labels and, when ``truth`` (spots keyed ``sample:spot``) is given,
    against the truth."""
    groups: dict = {}
    for p in predictions:
        keys = [spot_key(p.sample, b) for b in p.predicted.index]
        frames = groups.setdefault((p.model, p.fold, p.target_name), {"pred": [], "label": [], "sample": []})
        frames["pred"].append(p.predicted.set_axis(keys))
        frames["label"].append(p.target.set_axis(keys))
        frames["sample"].append(pd.Series(p.sample, index=keys))
    summary, table = [], []
    for (model, fold, label_name), frames in sorted(groups.items()):
        pred, label, sample_of = (pd.concat(frames[k]) for k in ("pred", "label", "sample"))
        references = [(label_name, label)]
        if truth is not None:  # the demo: the true abundances the slides were drawn from
            references.append(("truth", truth.loc[pred.index, [t for t in label.columns if t in truth.columns]]))
        for target, reference in references:
            rows, types = score_fold(pred, reference, sample_of, model, target, fold)
            summary.append(rows)
            table.append(types)
    return pd.concat(summary, ignore_index=True), pd.concat(table, ignore_index=True)
