import anndata as ad
import h5py

from stpath import expression_figures as ef
from stpath import logs
from stpath.atomic import atomic_path

logs.to_file(snakemake.log[0])
predictions = {}
for path in snakemake.input.predictions:
    a = ad.read_h5ad(path)
    predictions[a.uns["prediction"]["model"]] = a
with h5py.File(snakemake.input.tiles, "r") as f:
    thumbnail, downsample = f["thumbnail"][:], float(f.attrs["thumbnail_downsample"])
reference = snakemake.params.reference_model
fold = predictions[reference].uns["prediction"]["fold"]
title = f"{snakemake.wildcards.sample} (held out in fold {fold}): measured vs predicted, genes ranked by {reference} PCC"
with atomic_path(snakemake.output[0]) as tmp:
    ef.gene_maps(predictions, reference, thumbnail, downsample, tmp, title)
