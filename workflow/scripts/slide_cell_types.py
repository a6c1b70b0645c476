import anndata as ad
import h5py
import torch

from stpath import logs
from stpath.abundance import figures
from stpath.abundance.models import load
from stpath.abundance.wholeslide import predict_tiles
from stpath.atomic import atomic_path
from stpath.device import torch_device
from stpath.training.data import model_genes

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.models
model_name, sample = snakemake.wildcards.cell_model, snakemake.wildcards.sample
n_genes = len(model_genes(snakemake.input.genes, cfg["gene_set"]))
cell_types = list(ad.read_h5ad(snakemake.input.labels, backed="r").uns["cell_types"])
device = torch_device(cfg["accelerator"])
model = load(model_name, cfg, len(cell_types), n_genes, snakemake.input.checkpoint, device)
tiles = predict_tiles(model, snakemake.input.tiles, cell_types, device, snakemake.params.input_px)
tiles.uns["prediction"] = {"model": model_name, "fold": int(snakemake.params.fold), "sample": sample}
with atomic_path(snakemake.output.adata) as tmp:
    tiles.write_h5ad(tmp)
with h5py.File(snakemake.input.tiles, "r") as f:
    thumbnail, downsample = f["thumbnail"][:], float(f.attrs["thumbnail_downsample"])
abundance = tiles.to_df()
title = f"{sample}: {model_name} cell-type abundance on every tissue tile ({len(tiles)} tiles, fold {snakemake.params.fold} model)"
with atomic_path(snakemake.output.png) as tmp:
    figures.wholeslide_maps(
        tmp, title, abundance, tiles.obsm["spatial"], tiles.uns["tiles"]["tile_side_level0"], thumbnail, downsample,
        figures.major_types(abundance, cfg["map_types"]),
    )
