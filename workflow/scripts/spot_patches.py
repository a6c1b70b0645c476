import anndata as ad

from stpath import logs
from stpath.ingest.ingested import read_sample_info
from stpath.wsi.cut import PatchParams, spot_patches
from stpath.wsi.stain import stain_map

logs.to_file(snakemake.log[0])
adata = ad.read_h5ad(snakemake.input.adata)
info = read_sample_info(adata)
params = PatchParams.from_config(snakemake.params.patches)
stain = stain_map(snakemake.input.get("stain"), snakemake.input.get("stain_target"))
spot_patches(snakemake.input.slide, adata.obsm["spatial"], adata.obs_names, info.um_per_px, info.sample, params, snakemake.output[0], stain)
