import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from stpath import expression_metrics as em
from stpath import logs
from stpath.atomic import atomic_path
from stpath.training.data import read_expression

logs.to_file(snakemake.log[0])
folds = pd.DataFrame(snakemake.params.folds)
markers, n = list(snakemake.params.markers), snakemake.params.n_genes
predictions = [ad.read_h5ad(p) for p in snakemake.input.predictions]
expression = {Path(p).stem: p for p in snakemake.input.expression}
summary, per_gene = [], []
for (model, fold), group in pd.DataFrame([(a.uns["prediction"]["model"], a.uns["prediction"]["fold"], i) for i, a in enumerate(predictions)], columns=["model", "fold", "i"]).groupby(["model", "fold"]):
    preds, trues = [], []
    for i in group.i:
        a = predictions[i]
        genes, sample = list(a.var_names), a.uns["prediction"]["sample"]
        pred, true = np.asarray(a.X), np.asarray(a.layers["measured"])
        summary.append(em.per_slide(model, fold, sample, pred, true, genes, markers, n))
        per_gene.append(em.per_gene(model, fold, sample, pred, true, genes))
        preds.append(pred)
        trues.append(true)
    train_samples = folds[(folds["fold"] == fold) & (folds["role"] == "train")]["sample"]
    train_expr = np.concatenate([read_expression(expression[s], genes) for s in train_samples])
    summary.append(em.hest(model, fold, preds, trues, train_expr, n))
summary = pd.concat(summary, ignore_index=True)
table = summary[summary.metric == "pearson_mean"].groupby(["model", "gene_set", "protocol"]).value.mean().unstack(["protocol", "gene_set"])
logging.getLogger("stpath.metrics").info("mean PCC over test slides / folds:\n%s", table.round(3).to_string())
with atomic_path(snakemake.output.summary) as tmp:
    summary.to_csv(tmp, sep="\t", index=False, float_format="%.5f")
with atomic_path(snakemake.output.per_gene) as tmp:
    pd.concat(per_gene, ignore_index=True).to_csv(tmp, sep="\t", index=False, float_format="%.5f")
