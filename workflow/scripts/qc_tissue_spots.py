import anndata as ad

from stpath import logs
from stpath.ingest.ingested import read_sample_info
from stpath.wsi.figures import qc_figure

logs.to_file(snakemake.log[0])
adata = ad.read_h5ad(snakemake.input.adata)
title = read_sample_info(adata).describe()
qc_figure(
    snakemake.output[0], adata.obsm["spatial"], adata.obs_names, title, snakemake.input.tiles, snakemake.input.patches
)
