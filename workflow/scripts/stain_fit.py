from stpath import logs
from stpath.ingest.ingested import read_sample_info
from stpath.wsi.cut import TilingSettings, fit_slide_stain
from stpath.wsi.stain import StainNormalisation, write_stain_fit
from stpath.wsi.tissue import TissueSettings

logs.to_file(snakemake.log[0])
info = read_sample_info(snakemake.input.adata)
fit = fit_slide_stain(
    snakemake.input.slide,
    info.um_per_px,
    TissueSettings.from_config(snakemake.params.tissue),
    TilingSettings.from_config(snakemake.params.tiling),
    StainNormalisation.from_config(snakemake.params.stain),
    info.sample,
)
write_stain_fit(snakemake.output[0], fit)
