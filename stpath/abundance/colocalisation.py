"""Spatial co-localisation of cell types: squidpy's neighbourhood enrichment of the dominant cell
type per spot, computed on the predictions and on the labels, compared by the Pearson r of the
two z-score matrices (over the types that dominate at least one spot in both)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import squidpy as sq


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
