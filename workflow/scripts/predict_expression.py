import anndata as ad
import numpy as np
import pandas as pd
import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.device import torch_device
from stpath.training.data import load_expression, load_spots, model_genes
from stpath.training.models import RETRIEVAL, load, predict

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.models
model_name, sample = snakemake.wildcards.model, snakemake.wildcards.sample
genes = model_genes(snakemake.input.genes, cfg["gene_set"])
device = torch_device(cfg["accelerator"])
keys = None
if model_name in RETRIEVAL:  # retrieval keys: the training spots' expression (no images needed)
    keys, _ = load_expression(snakemake.params.train_samples, snakemake.input.patches, snakemake.input.expression, genes)
test = load_spots([sample], [snakemake.input.test_patches], [snakemake.input.test_expression], genes)
model = load(model_name, cfg, len(genes), snakemake.input.checkpoint, device)
predicted = predict(model_name, model, keys, test.images, cfg["retrieval_k"], device)
out = ad.AnnData(X=predicted.astype(np.float32), obs=pd.DataFrame(index=test.barcode), var=pd.DataFrame(index=genes))
out.layers["measured"] = test.expression.numpy()
measured = ad.read_h5ad(snakemake.input.test_expression)
out.obsm["spatial"] = measured[test.barcode].obsm["spatial"]
out.uns["prediction"] = {"model": model_name, "fold": int(snakemake.params.fold), "sample": sample, "train_samples": list(snakemake.params.train_samples)}
with atomic_path(snakemake.output[0]) as tmp:
    out.write_h5ad(tmp)
