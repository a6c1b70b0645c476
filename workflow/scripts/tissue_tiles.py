from stpath import logs
from stpath.ingest.ingested import read_sample_info
from stpath.wsi.cut import TilingSettings, tile_slide
from stpath.wsi.stain import stain_map
from stpath.wsi.tissue import TissueSettings

logs.to_file(snakemake.log[0])
tile_slide(
    snakemake.input.slide,
    read_sample_info(snakemake.input.adata).um_per_px,
    TissueSettings.from_config(snakemake.params.tissue),
    TilingSettings.from_config(snakemake.params.tiling),
    snakemake.output[0],
    stain_map(snakemake.input.get("stain"), snakemake.input.get("stain_target")),
)
