"""Spatial co-localisation of cell types, computed on the predictions and on the labels and
compared over the pairs of different types of the two type x type matrices (Pearson r, Spearman
r and rescaled cosine similarity, as the released analysis):

* squidpy's neighbourhood enrichment of the dominant cell type per spot (z-scores);
* the released CUCA's statistic: the global bivariate Moran's R of every pair of cell-type
  abundances, with SpatialDM's weights (an RBF kernel of length ``length`` (SpatialDM's ``l``) over the ``n_neighbors``
  nearest spots, self-weight 1, weights under ``cutoff`` dropped)."""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import squidpy as sq
from scipy import sparse, stats
from scipy.spatial import cKDTree, distance

from ..metrics import COLUMNS
from ..predictions import SpotPrediction


def enrichment(
    abundance: pd.DataFrame, xy: np.ndarray, n_neighs: int = 6, n_perms: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Neighbourhood-enrichment z-scores between the dominant cell types of the spots."""
    dominant = abundance.idxmax(axis=1)
    adata = ad.AnnData(obs=pd.DataFrame({"dominant": pd.Categorical(dominant)}, index=abundance.index.astype(str)))
    adata.obs["dominant"] = adata.obs["dominant"].cat.remove_unused_categories()
    adata.obsm["spatial"] = np.asarray(xy, float)
    types = list(adata.obs["dominant"].cat.categories)
    if len(types) < 2:
        return pd.DataFrame(np.nan, index=types, columns=types)
    sq.gr.spatial_neighbors_knn(adata, n_neighs=min(n_neighs, len(adata) - 1))
    zscore, _ = sq.gr.nhood_enrichment(
        adata, cluster_key="dominant", n_perms=n_perms, seed=seed, copy=True, show_progress_bar=False, n_jobs=1
    )
    return pd.DataFrame(zscore, index=types, columns=types)


def rbf_weights(xy: np.ndarray, length: float, cutoff: float = 0.2, n_neighbors: int = 160) -> sparse.csr_matrix:
    """SpatialDM's spatial weights: exp(-d^2 / (2 length^2)) between each spot and its ``n_neighbors``
    nearest spots (itself included, weight 1), weights under ``cutoff`` set to 0, symmetric."""
    xy = np.asarray(xy, float)
    k = min(n_neighbors, len(xy))
    dist, idx = cKDTree(xy).query(xy, k=k)
    w = np.exp(-(dist**2) / (2 * length**2))
    w[w < cutoff] = 0
    rows = np.repeat(np.arange(len(xy)), k)
    weights = sparse.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(len(xy), len(xy)))
    weights = weights.maximum(weights.T)  # i among j's neighbours but not the reverse
    weights.eliminate_zeros()
    return weights


def bivariate_moran(abundance: pd.DataFrame, weights: sparse.spmatrix) -> pd.DataFrame:
    """Global bivariate Moran's R of every pair of columns: z_a' W z_b / sum(W), with z each
    column standardised (mean 0, variance 1). A constant column has no R (NaN)."""
    x = abundance.to_numpy(float)
    sd = x.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, np.nan)
    r = z.T @ (weights @ z) / weights.sum()
    return pd.DataFrame(r, index=abundance.columns, columns=abundance.columns)


AGREEMENT = ("pearson", "spearman", "cosine")


def agreement(predicted: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """How well a prediction's type x type matrix reproduces the labels', over the pairs of
    different types (i < j, as the released CUCA analysis; the diagonal holds each type's
    self-association, which would inflate the agreement): Pearson r, Spearman r and the rescaled
    cosine similarity ((1 - cosine distance) + 1) / 2 between the two vectors of pair values."""
    nan = dict.fromkeys(AGREEMENT, float("nan"))
    types = [t for t in labels.index if t in predicted.index]
    if len(types) < 3:
        return nan
    iu = np.triu_indices(len(types), k=1)
    a, b = predicted.loc[types, types].to_numpy(float)[iu], labels.loc[types, types].to_numpy(float)[iu]
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return nan
    return {
        "pearson": float(stats.pearsonr(a, b)[0]),
        "spearman": float(stats.spearmanr(a, b)[0]),
        "cosine": float((1 - distance.cosine(a, b) + 1) / 2),
    }


@dataclass(frozen=True)
class MoranSettings:
    """SpatialDM's weights as the released CUCA sets them (l = 500 in its coordinate units, which
    for HER2ST are image pixels of about 0.69 um: 345 um), here in um so that they mean the same
    on every slide."""

    rbf_length_um: float = 345.0
    cutoff: float = 0.2
    n_neighbors: int = 160

    @classmethod
    def from_config(cls, section: dict) -> "MoranSettings":
        """From the cell_type_models.colocalisation section."""
        return cls(**section)


ENRICHMENT, MORAN = "nhood_enrichment_z", "moran_r"


def compare_slides(
    predictions: list[SpotPrediction], um_per_px: dict[str, float], moran: MoranSettings = MoranSettings()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per prediction (one model, one held-out slide): summary rows of the agreement with the
    labels over the pairs of different types, by squidpy's enrichment (``colocalisation_r``,
    ``_spearman``, ``_cosine``) and by the released Moran's R (``colocalisation_moran_r``,
    ``_spearman``, ``_cosine``: the three statistics the release reports); and the long matrices of the predictions and of the labels (once
    per slide), ``statistic`` naming which. ``um_per_px``: each slide's pixel size."""
    summary, matrices, labels = [], [], {}
    for p in predictions:
        sample = p.sample
        weights = rbf_weights(
            np.asarray(p.spatial) * um_per_px[sample], moran.rbf_length_um, moran.cutoff, moran.n_neighbors
        )
        predicted = {ENRICHMENT: enrichment(p.predicted, p.spatial), MORAN: bivariate_moran(p.predicted, weights)}
        if sample not in labels:
            labels[sample] = {ENRICHMENT: enrichment(p.target, p.spatial), MORAN: bivariate_moran(p.target, weights)}
            matrices += [_long(m, sample, "labels", statistic) for statistic, m in labels[sample].items()]
        matrices += [_long(m, sample, p.model, statistic) for statistic, m in predicted.items()]
        for statistic, prefix in ((ENRICHMENT, "colocalisation"), (MORAN, "colocalisation_moran")):
            for name, value in agreement(predicted[statistic], labels[sample][statistic]).items():
                metric = f"{prefix}_{'r' if name == 'pearson' else name}"
                summary.append((p.model, p.target_name, "cell_types", "per_slide", p.fold, sample, metric, value))
    return pd.DataFrame(summary, columns=COLUMNS), pd.concat(matrices, ignore_index=True)


def _long(matrix: pd.DataFrame, sample: str, source: str, statistic: str) -> pd.DataFrame:
    long = matrix.rename_axis(index="type_a", columns="type_b").stack(dropna=False).rename("value").reset_index()
    return long.assign(sample=sample, source=source, statistic=statistic)
