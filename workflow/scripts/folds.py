import logging

import pandas as pd

from stpath import logs
from stpath.atomic import atomic_path
from stpath.folds import assign_folds, feasible_schemes
from stpath.sheet import read_sheet

logs.to_file(snakemake.log[0])
sheet = read_sheet(snakemake.input[0]).reset_index(drop=True)
cfg = snakemake.params.folds
tables = []
for scheme in feasible_schemes(sheet):
    tables.append(assign_folds(sheet, scheme, cfg["n_folds"], cfg["seed"]))
    logging.info("%s: %d folds", scheme, tables[-1]["fold"].nunique())
folds = pd.concat(tables, ignore_index=True)
folds["selected"] = folds["scheme"] == cfg["scheme"]
with atomic_path(snakemake.output[0]) as tmp:
    folds.to_csv(tmp, sep="\t", index=False)
