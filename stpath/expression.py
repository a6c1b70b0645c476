"""Normalised expression per sample over the shared genes, and the gene-set table."""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad

from .atomic import atomic_path
from . import genes as gs

log = logging.getLogger(__name__)


def write_gene_sets(ingested: list[Path], genes_out, normalised_out: list[Path], min_shared: int, hvg_per_sample: int, top_expressed: int) -> None:
    samples = [ad.read_h5ad(p) for p in ingested]
    genes = gs.shared_genes(samples, min_shared)
    normed = [gs.normalise(a) for a in samples]
    hvg = gs.hvg_union(normed, genes, hvg_per_sample)
    heg = gs.top_expressed(normed, genes, top_expressed)
    log.info("%d shared genes; HVG union %d; top expressed %d", len(genes), len(hvg), len(heg))
    with atomic_path(genes_out) as tmp:
        gs.gene_table(genes, hvg, heg).to_csv(tmp, sep="\t", index=False)
    for a, out in zip(normed, normalised_out):
        with atomic_path(out) as tmp:
            a[:, genes].copy().write_h5ad(tmp)

