"""The ridge probe: ridge regression on frozen encoder features, its penalty chosen on the
validation spots (mean per-cell-type Pearson r), then refitted on all training spots. (The released
LinearProbing baseline trains the same linear head by gradient descent: model ``linear_probe``.)"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..metrics import pearson_columns

log = logging.getLogger(__name__)


def _ridge(alpha: float, seed: int):
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha, random_state=seed))


def fit_probe(
    features: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray, alphas: list[float], seed: int
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(weight [K, D], bias [K]) of the ridge map from raw features to labels, and the validation
    score of every penalty tried."""
    scores = []
    for alpha in alphas:
        model = _ridge(alpha, seed).fit(features[train_idx], labels[train_idx])
        scores.append(float(pearson_columns(model.predict(features[val_idx]), labels[val_idx]).mean()))
    history = pd.DataFrame({"alpha": alphas, "val_pearson": scores})
    best = float(alphas[int(np.argmax(scores))])
    log.info(
        "ridge penalties %s: validation mean r %s; refitting all spots with alpha %g",
        alphas,
        np.round(scores, 3).tolist(),
        best,
    )
    model = _ridge(best, seed).fit(features, labels)
    scaler, ridge = model.named_steps["standardscaler"], model.named_steps["ridge"]
    weight = ridge.coef_ / scaler.scale_  # fold the standardisation into the linear map
    bias = ridge.intercept_ - weight @ scaler.mean_
    return weight.astype(np.float32), bias.astype(np.float32), history


def set_head(head: torch.nn.Linear, weight: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight))
        head.bias.copy_(torch.from_numpy(bias))
