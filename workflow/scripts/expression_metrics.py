import logging
from pathlib import Path

import anndata as ad
import pandas as pd

from stpath import expression_metrics as em
from stpath import logs
from stpath.atomic import atomic_path

logs.to_file(snakemake.log[0])
predictions = [ad.read_h5ad(p) for p in snakemake.input.predictions]
expression = {Path(p).stem: p for p in snakemake.input.expression}
summary, per_gene = em.evaluate(predictions, pd.DataFrame(snakemake.params.folds), expression, list(snakemake.params.markers), snakemake.params.n_genes)
table = summary[summary.metric == "pearson_mean"].groupby(["model", "gene_set", "protocol"]).value.mean().unstack(["protocol", "gene_set"])
logging.getLogger("stpath.metrics").info("mean PCC over test slides / folds:\n%s", table.round(3).to_string())
with atomic_path(snakemake.output.summary) as tmp:
    summary.to_csv(tmp, sep="\t", index=False, float_format="%.5f")
with atomic_path(snakemake.output.per_gene) as tmp:
    per_gene.to_csv(tmp, sep="\t", index=False, float_format="%.5f")
