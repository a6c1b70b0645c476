import anndata as ad

from stpath import logs
from stpath.ingest.ingested import read_array_flags, read_sample_info
from stpath.wsi.cut import spot_patches
from stpath.wsi.scale import ImageScale
from stpath.wsi.stain import stain_map
from stpath.wsi.tiles import read_thumbnail
from stpath.wsi.tissue import (
    TissueSettings,
    array_mismatch,
    check_array_agreement,
    check_spots_on_tissue,
    share_on_tissue,
)

logs.to_file(snakemake.log[0])
adata = ad.read_h5ad(snakemake.input.adata)
info = read_sample_info(adata)
scale = ImageScale.from_config(snakemake.params.patches)
thumb = read_thumbnail(snakemake.input.tiles)
share = share_on_tissue(thumb.tissue_mask, thumb.downsample, adata.obsm["spatial"])
tissue = TissueSettings.from_config(snakemake.params.tissue)
if adata.n_obs:
    check_spots_on_tissue(share, tissue, info.sample, snakemake.input.adata)
if (array := read_array_flags(adata)) is not None:
    mismatch = array_mismatch(thumb.tissue_mask, thumb.downsample, info.um_per_px, *array)
    check_array_agreement(mismatch, tissue, info.sample, snakemake.input.adata)
stain = stain_map(snakemake.input.get("stain"), snakemake.input.get("stain_target"))
spot_patches(
    snakemake.input.slide,
    adata.obsm["spatial"],
    adata.obs_names,
    info.um_per_px,
    info.sample,
    scale,
    snakemake.output[0],
    stain,
)
