import pandas as pd
import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.celltypes.figures import major_types
from stpath.celltypes.settings import CellTypeSettings
from stpath.celltypes.wholeslide import from_run, predict_tiles
from stpath.deconvolution.output import read_cell_types
from stpath.device import torch_device
from stpath.genes.files import read_gene_set
from stpath.ingest.folds import checkpoints_by_split, predicting_runs, protocol_of, training_samples
from stpath.plots import tile_maps
from stpath.predictions import tile_provenance, write_tile_prediction
from stpath.wsi.scale import ImageScale
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = CellTypeSettings.from_config(snakemake.params.models)
model_name = snakemake.wildcards.cell_model
genes = read_gene_set(snakemake.input.genes, settings.gene_set)
cell_types = read_cell_types(snakemake.input.labels[0])
device = torch_device(settings.accelerator)
checkpoints = checkpoints_by_split(snakemake.params.fold_ids, snakemake.input.checkpoints, snakemake.input.final)
index = {s: i for i, s in enumerate(snakemake.params.samples)}
folds = pd.DataFrame(snakemake.params.folds)
for split, samples in predicting_runs(folds, snakemake.params.fold_ids, snakemake.params.image_only):
    predictor = from_run(model_name, settings, checkpoints[split], genes, cell_types, device)  # once per run
    details = tile_provenance(split, training_samples(folds, split, snakemake.params.labelled), snakemake.params.bundle)
    for sample in samples:
        i = index[sample]
        tiles = predict_tiles(
            predictor,
            snakemake.input.tiles[i],
            device,
            ImageScale.from_config(snakemake.params.scale),
            sample=sample,
            split=split,
            details=details,
        )
        write_tile_prediction(tiles, snakemake.output.adata[i])
        thumb = read_thumbnail(snakemake.input.tiles[i])
        title = f"{sample}: {model_name} cell-type abundance on {len(tiles.predicted)} tissue tiles\n{protocol_of(split, sample, folds)}"
        with atomic_path(snakemake.output.png[i]) as tmp:
            tile_maps(
                tmp,
                title,
                tiles.predicted,
                tiles.centres,
                tiles.side_level0,
                thumb.image,
                thumb.downsample,
                major_types(tiles.predicted, settings.map_types),
            )
