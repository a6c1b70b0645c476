import anndata as ad

from stpath import logs
from stpath.tiling import TilingParams, tile_slide
from stpath.tissue import TissueParams

logs.to_file(snakemake.log[0])
meta = ad.read_h5ad(snakemake.input.adata, backed="r").uns["stpath"]
tile_slide(
    snakemake.input.slide,
    meta["um_per_px"],
    TissueParams(**snakemake.params.tissue),
    TilingParams(**snakemake.params.tiling),
    snakemake.output[0],
)
