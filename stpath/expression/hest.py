"""HEST-Benchmark's probe (Jaume et al. 2024; hest/bench/trainer.py): on the training spots'
frozen embeddings, StandardScaler, then PCA to 256 dimensions, then ridge regression with
alpha = 100 / (dimensions x genes), the lsqr solver and no intercept, one output per gene; folded
here into the weight and bias of one linear layer (so that it runs on the device like any head).
HEST's targets are log1p counts; here they are the branch's normalised expression (normalize_total,
then log1p), what every expression model learns and is scored on."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

log = logging.getLogger(__name__)


def hest_pipeline(n_features: int, n_spots: int, n_genes: int, pca_dim: int = 256, seed: int = 0):
    dims = min(pca_dim, n_features, n_spots)
    alpha = 100.0 / (dims * n_genes)
    return make_pipeline(
        StandardScaler(),
        PCA(n_components=dims, random_state=seed),
        Ridge(alpha=alpha, solver="lsqr", fit_intercept=False, random_state=seed),
    )


def fit_hest_probe(
    features: np.ndarray, expression: np.ndarray, pca_dim: int = 256, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(weight [G, D], bias [G]) of the fitted probe as one linear map of the raw embedding."""
    model = hest_pipeline(features.shape[1], len(features), expression.shape[1], pca_dim, seed).fit(
        features, expression
    )
    scaler, pca, ridge = (model.named_steps[k] for k in ("standardscaler", "pca", "ridge"))
    log.info(
        "HEST probe: %d spots, %d features -> PCA %d (%.1f%% of the variance), ridge alpha %.3g over %d genes",
        len(features),
        features.shape[1],
        pca.n_components_,
        100 * pca.explained_variance_ratio_.sum(),
        ridge.alpha,
        expression.shape[1],
    )
    projection = ridge.coef_ @ pca.components_  # [G, D] on standardised features
    weight = projection / scaler.scale_
    bias = -projection @ (scaler.mean_ / scaler.scale_ + pca.mean_)
    return weight.astype(np.float32), bias.astype(np.float32)
