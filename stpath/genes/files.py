"""The gene stage's files: ``genes/genes.tsv`` (the gene-set table: gene, then one boolean
column per set) and ``genes/{sample}.h5ad`` (each sample's normalised expression over the
shared genes). Owner of both: ``write_gene_table`` and ``write_normalised`` write them;
``read_gene_set`` and ``read_expression`` read them. Light: anndata, numpy and pandas only."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..atomic import atomic_path


def write_gene_table(table: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)


def write_normalised(adata: ad.AnnData, path) -> None:
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def read_gene_set(genes_tsv: Path, gene_set: str) -> list[str]:
    """The genes of one gene set (a boolean column of the gene-set table: hvg_union, top_expressed)."""
    table = pd.read_csv(genes_tsv, sep="\t")
    return list(table.loc[table[gene_set].astype(bool), "gene"])


def read_expression(path: Path, genes: list[str]) -> np.ndarray:
    """All spots of one normalised expression file over ``genes``, dense float32."""
    x = ad.read_h5ad(path)[:, genes].X
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)
