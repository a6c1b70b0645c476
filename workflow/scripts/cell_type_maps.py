import pandas as pd

from stpath import logs
from stpath.atomic import atomic_path
from stpath.celltypes import figures
from stpath.deconvolution.truth import read_truth
from stpath.ingest.folds import protocol_of
from stpath.ingest.ingested import read_sample_info
from stpath.predictions import read_spot_prediction
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
predictions = [read_spot_prediction(p) for p in snakemake.input.predictions]
first = predictions[0]
panels = {"cell2location labels": first.target}
if snakemake.input.truth:
    truth = read_truth(snakemake.input.truth, [first.sample], keyed=False)
    panels["truth"] = truth.reindex(index=first.target.index, columns=first.target.columns)
panels |= {p.model: p.predicted for p in predictions}
thumb = read_thumbnail(snakemake.input.tiles)
spot_px = read_sample_info(snakemake.input.labels).spot_diameter_px or 20.0
with atomic_path(snakemake.output[0]) as tmp:
    figures.prediction_maps(
        tmp, f"{first.sample} ({protocol_of(f'fold{first.fold}', first.sample, pd.DataFrame(snakemake.params.folds))}): cell-type abundance, labels vs predicted from the H&E",
        panels, figures.major_types(first.target, snakemake.params.map_types), first.spatial,
        thumb.image, thumb.downsample, spot_px,
    )
