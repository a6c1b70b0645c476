import anndata as ad

from stpath import logs
from stpath.ingest.ingested import read_sample_info
from stpath.wsi.cut import PatchParams, spot_patches

logs.to_file(snakemake.log[0])
adata = ad.read_h5ad(snakemake.input.adata)
info = read_sample_info(adata)
params = PatchParams.from_config(snakemake.params.patches)
spot_patches(snakemake.input.slide, adata.obsm["spatial"], adata.obs_names, info.um_per_px, info.sample, params, snakemake.output[0])
