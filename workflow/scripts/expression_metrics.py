import logging
from pathlib import Path

import pandas as pd

from stpath import logs
from stpath.expression.metrics import evaluate_expression, pcc_overview
from stpath.manifest import job_files
from stpath.metrics import by_seed, label_patients, write_table
from stpath.predictions import read_spot_prediction

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
predictions = [read_spot_prediction(p) for p in files["predictions"]]
expression = {Path(p).stem: p for p in files["expression"]}
folds = pd.DataFrame(snakemake.params.folds)
summary, per_gene = by_seed(
    predictions,
    lambda some: evaluate_expression(some, folds, expression, list(snakemake.params.markers), snakemake.params.n_genes),
)
logging.getLogger("stpath.metrics").info(
    "mean PCC over test slides / folds:\n%s", pcc_overview(summary).round(3).to_string()
)
write_table(label_patients(summary, folds), snakemake.output.summary, "%.5f")
write_table(label_patients(per_gene, folds), snakemake.output.per_gene, "%.5f")
