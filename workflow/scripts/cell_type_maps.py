import pandas as pd

from stpath import logs
from stpath.atomic import atomic_path
from stpath.celltypes import figures
from stpath.celltypes.metrics import clipped
from stpath.deconvolution.truth import read_truth
from stpath.ingest.folds import protocol_of
from stpath.ingest.ingested import read_sample_info
from stpath.manifest import job_files, write_index
from stpath.plots import SpotView
from stpath.predictions import read_spot_prediction, seed_phrase
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
folds = pd.DataFrame(snakemake.params.folds)
samples = snakemake.params.samples
for paths, labels, tiles, truth_path, png in zip(
    files["predictions"], files["labels"], files["tiles"], files["truth"], snakemake.output.maps
):
    predictions = [read_spot_prediction(p) for p in paths]
    first = predictions[0]
    panels = {f"labels: {first.target_name}": first.target}
    if truth_path:
        truth = read_truth(truth_path, [first.sample], keyed=False)
        panels["truth"] = truth.reindex(index=first.target.index, columns=first.target.columns)
    panels |= {p.model: clipped(p.predicted) for p in predictions}
    thumb = read_thumbnail(tiles)
    view = SpotView.of(
        first.spatial, read_sample_info(labels).physical_spot_px, thumb.image, thumb.downsample, 2.8 * 100
    )
    protocol = protocol_of(f"fold{first.fold}", first.sample, folds)
    details = first.details.get("labels", {})
    quantity = "proportion" if details.get("source") == "published" else details.get("kind", "abundance")
    title = (
        f"{first.sample}: cell-type {quantity}, labels vs predicted from the H&E\n{protocol}; "
        f"{seed_phrase(predictions)}"
    )
    with atomic_path(png) as tmp:
        figures.prediction_maps(tmp, title, panels, figures.major_types(first.target, snakemake.params.map_types), view)
write_index(snakemake.output.index, dict(zip(samples, snakemake.output.maps)))
