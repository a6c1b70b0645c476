"""Expression normalisation and the gene sets both methods train on (written by ``files``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from ..errors import InputError
from ..ingest.ingested import qc_passing
from .files import write_gene_table, write_normalised

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneSetSettings:
    min_shared: int = 50  # fewer genes shared by all samples is an error
    hvg_per_sample: int = 1000  # CMRCNet: union of each sample's top HVGs
    top_expressed: int = 250  # CUCA: top highly expressed genes

    @classmethod
    def from_config(cls, section: dict) -> "GeneSetSettings":
        return cls(**section)


def shared_genes(samples: Sequence[ad.AnnData], min_shared: int = 1) -> list[str]:
    """Genes present in every sample, in the order of the first one."""
    common = set(samples[0].var_names)
    for a in samples[1:]:
        common &= set(a.var_names)
    genes = [g for g in samples[0].var_names if g in common]
    if len(genes) < min_shared:
        names = [a.uns.get("stpath", {}).get("sample", "?") for a in samples]
        raise InputError(
            None,
            f"only {len(genes)} genes are shared by samples {names} (need >= {min_shared}); gene identifiers do not match",
            "use the same gene naming (symbols) in every sample's expression file",
        )
    return genes


def normalise(adata: ad.AnnData) -> ad.AnnData:
    """normalize_total (to the median library size of the spots that pass QC) + log1p on all
    genes, every spot; raw counts kept in a layer."""
    out = adata.copy()
    out.X = out.X.astype(np.float32)
    out.layers["counts"] = adata.X.copy()
    totals = np.asarray(adata.X[qc_passing(adata)].sum(axis=1)).ravel()
    sc.pp.normalize_total(out, target_sum=float(np.median(totals[totals > 0])))
    sc.pp.log1p(out)
    return out


def hvg_union(normalised: Sequence[ad.AnnData], genes: list[str], n_top: int) -> list[str]:
    """CMRCNet's gene set: union over samples of each sample's top-``n_top`` HVGs (seurat flavour)
    computed on the shared genes, in shared-gene order."""
    chosen: set[str] = set()
    for a in normalised:
        sub = a[:, genes].copy()
        sc.pp.highly_variable_genes(sub, n_top_genes=min(n_top, sub.n_vars), flavor="seurat")
        chosen |= set(sub.var_names[sub.var["highly_variable"]])
    return [g for g in genes if g in chosen]


def top_expressed(normalised: Sequence[ad.AnnData], genes: list[str], n_top: int) -> list[str]:
    """CUCA's gene set: the ``n_top`` genes with the highest mean normalised expression over all spots."""
    total = np.zeros(len(genes))
    n = 0
    for a in normalised:
        total += np.asarray(a[:, genes].X.sum(axis=0)).ravel()
        n += a.n_obs
    order = np.argsort(-total / max(n, 1), kind="stable")[: min(n_top, len(genes))]
    return [genes[i] for i in order]


def gene_table(genes: list[str], hvg: list[str], heg: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"gene": genes, "hvg_union": [g in set(hvg) for g in genes], "top_expressed": [g in set(heg) for g in genes]}
    )


def write_gene_sets(ingested: list[Path], genes_out, normalised_out: list[Path], params: GeneSetSettings) -> None:
    samples = [ad.read_h5ad(p) for p in ingested]
    genes = shared_genes(samples, params.min_shared)
    normed = [normalise(a) for a in samples]
    passing = [a[qc_passing(a)] for a in normed]  # genes are chosen on the spots models train on
    hvg = hvg_union(passing, genes, params.hvg_per_sample)
    heg = top_expressed(passing, genes, params.top_expressed)
    log.info("%d shared genes; HVG union %d; top expressed %d", len(genes), len(hvg), len(heg))
    write_gene_table(gene_table(genes, hvg, heg), genes_out)
    for a, out in zip(normed, normalised_out):
        write_normalised(a[:, genes].copy(), out)
