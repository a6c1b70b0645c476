"""Spatial co-localisation of cell types: squidpy's neighbourhood enrichment of the dominant cell
type per spot, computed on the predictions and on the labels, compared by the Pearson r of the
two z-score matrices (over the types that dominate at least one spot in both)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import squidpy as sq

from ..metrics import COLUMNS
from ..predictions import SpotPrediction


def enrichment(abundance: pd.DataFrame, xy: np.ndarray, n_neighs: int = 6, n_perms: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Neighbourhood-enrichment z-scores between the dominant cell types of the spots."""
    dominant = abundance.idxmax(axis=1)
    adata = ad.AnnData(obs=pd.DataFrame({"dominant": pd.Categorical(dominant)}, index=abundance.index.astype(str)))
    adata.obs["dominant"] = adata.obs["dominant"].cat.remove_unused_categories()
    adata.obsm["spatial"] = np.asarray(xy, float)
    types = list(adata.obs["dominant"].cat.categories)
    if len(types) < 2:
        return pd.DataFrame(np.nan, index=types, columns=types)
    sq.gr.spatial_neighbors_knn(adata, n_neighs=min(n_neighs, len(adata) - 1))
    zscore, _ = sq.gr.nhood_enrichment(adata, cluster_key="dominant", n_perms=n_perms, seed=seed, copy=True, show_progress_bar=False, n_jobs=1)
    return pd.DataFrame(zscore, index=types, columns=types)


def agreement(predicted: pd.DataFrame, labels: pd.DataFrame) -> float:
    """Pearson r of the upper triangles (with diagonal) over the types in both matrices."""
    types = [t for t in labels.index if t in predicted.index]
    if len(types) < 2:
        return float("nan")
    iu = np.triu_indices(len(types))
    a, b = predicted.loc[types, types].to_numpy()[iu], labels.loc[types, types].to_numpy()[iu]
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or a[keep].std() == 0 or b[keep].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def compare_slides(predictions: list[SpotPrediction]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per prediction (one model, one held-out slide): ``colocalisation_r`` summary rows, and the
    long z-score matrices of the predictions and of the labels (once per slide)."""
    summary, matrices, label_z = [], [], {}
    for p in predictions:
        sample = p.sample
        pred_z = enrichment(p.predicted, p.spatial)
        if sample not in label_z:
            label_z[sample] = enrichment(p.target, p.spatial)
            matrices.append(_long(label_z[sample], sample, "labels"))
        matrices.append(_long(pred_z, sample, p.model))
        r = agreement(pred_z, label_z[sample])
        summary.append((p.model, p.target_name, "cell_types", "per_slide", p.fold, sample, "colocalisation_r", r))
    return pd.DataFrame(summary, columns=COLUMNS), pd.concat(matrices, ignore_index=True)


def _long(z: pd.DataFrame, sample: str, source: str) -> pd.DataFrame:
    long = z.rename_axis(index="type_a", columns="type_b").stack().rename("z").reset_index()
    return long.assign(sample=sample, source=source)
