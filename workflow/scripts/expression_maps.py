import pandas as pd

from stpath import logs
from stpath.atomic import atomic_path
from stpath.expression import figures
from stpath.ingest.folds import protocol_of
from stpath.ingest.ingested import read_sample_info
from stpath.manifest import job_files, write_index
from stpath.plots import SpotView
from stpath.predictions import read_spot_prediction, seed_phrase
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
folds = pd.DataFrame(snakemake.params.folds)
reference = snakemake.params.reference_model
samples = snakemake.params.samples
for sample, paths, tiles, ingested, png in zip(
    samples, files["predictions"], files["tiles"], files["ingested"], snakemake.output.maps
):
    predictions = {p.model: p for p in map(read_spot_prediction, paths)}
    thumb = read_thumbnail(tiles)
    protocol = protocol_of(f"fold{predictions[reference].fold}", sample, folds)
    title = (
        f"{sample}: measured vs predicted, genes ranked by {reference} PCC\n{protocol}; "
        f"{seed_phrase(predictions.values())}"
    )
    spot_px = read_sample_info(ingested).physical_spot_px
    view = SpotView.of(predictions[reference].spatial, spot_px, thumb.image, thumb.downsample, 3.0 * 110)
    with atomic_path(png) as tmp:
        figures.gene_maps(predictions, reference, view, tmp, title)
write_index(snakemake.output.index, dict(zip(samples, snakemake.output.maps)))
