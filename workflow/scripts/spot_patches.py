import anndata as ad

from stpath import logs
from stpath.ingest.ingested import read_sample_info
from stpath.wsi.cut import PatchParams, spot_patches
from stpath.wsi.stain import stain_map
from stpath.wsi.tiles import read_thumbnail
from stpath.wsi.tissue import TissueParams, check_spots_on_tissue, share_on_tissue

logs.to_file(snakemake.log[0])
adata = ad.read_h5ad(snakemake.input.adata)
info = read_sample_info(adata)
params = PatchParams.from_config(snakemake.params.patches)
thumb = read_thumbnail(snakemake.input.tiles)
share = share_on_tissue(thumb.tissue_mask, thumb.downsample, adata.obsm["spatial"])
if adata.n_obs:
    check_spots_on_tissue(share, TissueParams.from_config(snakemake.params.tissue), info.sample, snakemake.input.adata)
stain = stain_map(snakemake.input.get("stain"), snakemake.input.get("stain_target"))
spot_patches(snakemake.input.slide, adata.obsm["spatial"], adata.obs_names, info.um_per_px, info.sample, params, snakemake.output[0], stain)
