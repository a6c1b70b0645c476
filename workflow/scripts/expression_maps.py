import pandas as pd

from stpath import logs
from stpath.atomic import atomic_path
from stpath.expression import figures
from stpath.ingest.folds import protocol_of
from stpath.ingest.ingested import read_sample_info
from stpath.manifest import job_files
from stpath.plots import SpotView
from stpath.predictions import read_spot_prediction, seed_phrase
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
predictions = {p.model: p for p in map(read_spot_prediction, files["predictions"])}
thumb = read_thumbnail(snakemake.input.tiles)
reference = snakemake.params.reference_model
fold = predictions[reference].fold
protocol = protocol_of(f"fold{fold}", snakemake.wildcards.sample, pd.DataFrame(snakemake.params.folds))
title = (
    f"{snakemake.wildcards.sample}: measured vs predicted, genes ranked by {reference} PCC\n{protocol}; "
    f"{seed_phrase(predictions.values())}"
)
spot_px = read_sample_info(snakemake.input.ingested).physical_spot_px
view = SpotView.of(predictions[reference].spatial, spot_px, thumb.image, thumb.downsample, 3.0 * 110)
with atomic_path(snakemake.output[0]) as tmp:
    figures.gene_maps(predictions, reference, view, tmp, title)
