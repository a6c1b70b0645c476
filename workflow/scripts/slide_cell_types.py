import pandas as pd
import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.celltypes import figures
from stpath.celltypes.models import load
from stpath.celltypes.settings import CellTypeSettings
from stpath.celltypes.wholeslide import predict_tiles
from stpath.deconvolution.output import read_cell_types
from stpath.device import torch_device
from stpath.genes.files import read_gene_set
from stpath.ingest.folds import samples_in
from stpath.predictions import write_tile_prediction
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = CellTypeSettings.from_config(snakemake.params.models)
model_name = snakemake.wildcards.cell_model
n_genes = len(read_gene_set(snakemake.input.genes, settings.gene_set))
cell_types = read_cell_types(snakemake.input.labels[0])
device = torch_device(settings.accelerator)
folds = pd.DataFrame(snakemake.params.folds)
index = {s: i for i, s in enumerate(snakemake.params.samples)}
for fold, checkpoint in zip(snakemake.params.fold_ids, snakemake.input.checkpoints):
    model = load(model_name, settings, len(cell_types), n_genes, checkpoint, device)  # once per fold
    for sample in samples_in(folds, fold, "test"):
        i = index[sample]
        tiles = predict_tiles(model, snakemake.input.tiles[i], cell_types, device, snakemake.params.input_px, name=model_name, fold=fold, sample=sample)
        write_tile_prediction(tiles, snakemake.output.adata[i])
        thumb = read_thumbnail(snakemake.input.tiles[i])
        title = f"{sample}: {model_name} cell-type abundance on every tissue tile ({len(tiles.predicted)} tiles, fold {fold} model)"
        with atomic_path(snakemake.output.png[i]) as tmp:
            figures.wholeslide_maps(
                tmp, title, tiles.predicted, tiles.centres, tiles.side_level0, thumb.image, thumb.downsample,
                figures.major_types(tiles.predicted, settings.map_types),
            )
