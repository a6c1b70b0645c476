import torch

from stpath import logs
from stpath.apply import apply_bundle
from stpath.bundles import read_bundle
from stpath.device import torch_device
from stpath.ingest.folds import protocol_of
from stpath.manifest import write_index
from stpath.models import registry
from stpath.plots import save_tile_map
from stpath.predictions import write_tile_prediction

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
bundle = read_bundle(snakemake.params.bundle)
samples = snakemake.params.samples
tiles = dict(zip(samples, snakemake.input.tiles))
outputs = {s: (a, p) for s, a, p in zip(samples, snakemake.output.adata, snakemake.output.png)}
expression = bundle.task == registry.EXPRESSION
what = "predicted expression (log1p)" if expression else "cell-type abundance"
for prediction, columns in apply_bundle(
    bundle, tiles, list(snakemake.params.genes), torch_device("auto"), snakemake.params.map_types
):
    adata_path, png_path = outputs[prediction.sample]
    write_tile_prediction(prediction, adata_path)
    title = f"{prediction.sample}: {bundle.name} {what} on {len(prediction.predicted)} tissue tiles\n{protocol_of('bundle')}, trained on {bundle.dataset}: {', '.join(bundle.training_samples)}"
    save_tile_map(png_path, title, prediction, tiles[prediction.sample], columns, from_zero=not expression)
write_index(snakemake.output.index, dict(zip(samples, snakemake.output.adata)))
