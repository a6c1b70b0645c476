import anndata as ad

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import figures
from stpath.deconvolution.output import read_estimate
from stpath.ingest.ingested import read_sample_info
from stpath.manifest import job_files, write_index
from stpath.plots import SpotView
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
estimate = snakemake.params.estimate
samples = snakemake.params.samples
for adata_path, tiles, png in zip(files["adata"], files["tiles"], snakemake.output.maps):
    adata = ad.read_h5ad(adata_path)
    info = read_sample_info(adata)
    thumbnail, downsample = None, 1.0
    if tiles:
        thumb = read_thumbnail(tiles)
        thumbnail, downsample = thumb.image, thumb.downsample
    title = f"{info.sample}: cell2location abundance ({estimate}, cells per spot)"
    view = SpotView.of(adata.obsm["spatial"], info.physical_spot_px, thumbnail, downsample, 3.2 * 110)
    with atomic_path(png) as tmp:
        figures.abundance_maps(read_estimate(adata_path, estimate), view, tmp, title)
write_index(snakemake.output.index, dict(zip(samples, snakemake.output.maps)))
