import anndata as ad
import numpy as np
import pandas as pd
import torch

from stpath import logs
from stpath.atomic import atomic_path
from stpath.device import pick_accelerator
from stpath.training.data import load_spots
from stpath.training.models import load, predict

logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = snakemake.params.models
model_name, sample = snakemake.wildcards.model, snakemake.wildcards.sample
genes = pd.read_csv(snakemake.input.genes, sep="\t")
genes = list(genes.loc[genes[cfg["gene_set"]].astype(bool), "gene"])
device = torch.device("cuda" if pick_accelerator(cfg["accelerator"]) == "gpu" else "cpu")
train = load_spots(snakemake.params.train_samples, snakemake.input.patches, snakemake.input.expression, genes)
test = load_spots([sample], [snakemake.input.test_patches], [snakemake.input.test_expression], genes)
model = load(model_name, cfg, len(genes), snakemake.input.checkpoint, device)
predicted = predict(model_name, model, train, test, cfg["retrieval_k"], device)
out = ad.AnnData(X=predicted.astype(np.float32), obs=pd.DataFrame(index=test.barcode), var=pd.DataFrame(index=genes))
out.layers["measured"] = test.expression.numpy()
measured = ad.read_h5ad(snakemake.input.test_expression)
out.obsm["spatial"] = measured[test.barcode].obsm["spatial"]
out.uns["prediction"] = {"model": model_name, "fold": int(snakemake.params.fold), "sample": sample, "train_samples": list(snakemake.params.train_samples)}
with atomic_path(snakemake.output[0]) as tmp:
    out.write_h5ad(tmp)
