import pandas as pd

from stpath import logs
from stpath.atomic import atomic_path
from stpath.celltypes import figures
from stpath.celltypes.metrics import clipped
from stpath.deconvolution.truth import read_truth
from stpath.ingest.folds import protocol_of
from stpath.ingest.ingested import read_sample_info
from stpath.manifest import job_files
from stpath.plots import SpotView
from stpath.predictions import read_spot_prediction, seed_phrase
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
predictions = [read_spot_prediction(p) for p in files["predictions"]]
first = predictions[0]
panels = {f"labels: {first.target_name}": first.target}
if snakemake.input.truth:
    truth = read_truth(snakemake.input.truth, [first.sample], keyed=False)
    panels["truth"] = truth.reindex(index=first.target.index, columns=first.target.columns)
panels |= {p.model: clipped(p.predicted) for p in predictions}
thumb = read_thumbnail(snakemake.input.tiles)
view = SpotView.of(
    first.spatial, read_sample_info(files["labels"]).physical_spot_px, thumb.image, thumb.downsample, 2.8 * 100
)
protocol = protocol_of(f"fold{first.fold}", first.sample, pd.DataFrame(snakemake.params.folds))
labels = first.details.get("labels", {})
quantity = "proportion" if labels.get("source") == "published" else labels.get("kind", "abundance")
title = (
    f"{first.sample}: cell-type {quantity}, labels vs predicted from the H&E\n{protocol}; {seed_phrase(predictions)}"
)
with atomic_path(snakemake.output[0]) as tmp:
    figures.prediction_maps(tmp, title, panels, figures.major_types(first.target, snakemake.params.map_types), view)
