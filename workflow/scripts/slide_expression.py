import numpy as np
import pandas as pd
import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.device import torch_device
from stpath.expression.settings import ExpressionSettings
from stpath.expression.wholeslide import MAP_PANELS, from_run, map_genes, predict_tiles
from stpath.genes.files import read_gene_set
from stpath.ingest.folds import checkpoints_by_split, predicting_runs, protocol_of, training_samples
from stpath.plots import tile_maps
from stpath.predictions import tile_provenance, write_tile_prediction
from stpath.training.data import load_expression
from stpath.wsi.scale import ImageScale
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = ExpressionSettings.from_config(snakemake.params.models)
model_name = snakemake.wildcards.model
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
device = torch_device(settings.accelerator)
labelled = snakemake.params.labelled
# every labelled spot's expression, read once; each run's keys are its training slides' rows
expression, sample_of = load_expression(labelled, snakemake.input.patches, snakemake.input.expression, genes)
columns = map_genes(
    genes,
    list(settings.markers),
    expression.numpy(),
    settings.eval_genes,
    list(settings.map_genes),
    snakemake.input.genes,
)
folds = pd.DataFrame(snakemake.params.folds)
checkpoints = checkpoints_by_split(snakemake.params.fold_ids, snakemake.input.checkpoints, snakemake.input.final)
index = {s: i for i, s in enumerate(snakemake.params.samples)}
for split, samples in predicting_runs(folds, snakemake.params.fold_ids, snakemake.params.image_only):
    train = training_samples(folds, split, labelled)
    keys = expression[torch.from_numpy(np.isin(sample_of, train))]
    predictor = from_run(model_name, settings, checkpoints[split], genes, keys, device)  # once per run
    for sample in samples:
        i = index[sample]
        tiles = predict_tiles(
            predictor,
            snakemake.input.tiles[i],
            columns,
            device,
            ImageScale.from_config(snakemake.params.scale),
            sample=sample,
            split=split,
            details=tile_provenance(split, train, snakemake.params.bundle),
        )
        write_tile_prediction(tiles, snakemake.output.adata[i])
        thumb = read_thumbnail(snakemake.input.tiles[i])
        title = f"{sample}: {model_name} predicted expression (log1p) on {len(tiles.predicted)} tissue tiles\n{protocol_of(split, sample, folds)}"
        with atomic_path(snakemake.output.png[i]) as tmp:
            tile_maps(
                tmp,
                title,
                tiles.predicted,
                tiles.centres,
                tiles.side_level0,
                thumb.image,
                thumb.downsample,
                columns[:MAP_PANELS],
                from_zero=False,
            )
