import anndata as ad

from stpath import logs
from stpath.spots import PatchParams, spot_patches

logs.to_file(snakemake.log[0])
adata = ad.read_h5ad(snakemake.input.adata)
spot_patches(snakemake.input.slide, adata, PatchParams(**snakemake.params.patches), snakemake.output[0])
