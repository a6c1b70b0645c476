import anndata as ad
import pandas as pd
import torch

from stpath import logs
from stpath.abundance.labels import attach_labels
from stpath.abundance.models import load, predict
from stpath.atomic import atomic_path
from stpath.device import torch_device
from stpath.training.data import load_spots, model_genes

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.models
model_name, sample = snakemake.wildcards.cell_model, snakemake.wildcards.sample
genes = model_genes(snakemake.input.genes, cfg["gene_set"])
device = torch_device(cfg["accelerator"])
test = load_spots([sample], [snakemake.input.patches], [snakemake.input.expression], genes)
test = attach_labels(test, {sample: snakemake.input.labels}, **cfg["labels"])
model = load(model_name, cfg, len(test.label_names), len(genes), snakemake.input.checkpoint, device)
obs = pd.DataFrame(index=test.barcode)
out = ad.AnnData(X=predict(model, test.images, device), obs=obs, var=pd.DataFrame(index=test.label_names))
out.layers["label"] = test.labels.numpy()
out.obsm["spatial"] = ad.read_h5ad(snakemake.input.labels)[test.barcode].obsm["spatial"]
out.uns["prediction"] = {"model": model_name, "fold": int(snakemake.params.fold), "sample": sample, "labels": cfg["labels"]}
with atomic_path(snakemake.output[0]) as tmp:
    out.write_h5ad(tmp)
