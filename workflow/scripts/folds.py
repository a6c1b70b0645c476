import logging

from stpath import logs
from stpath.ingest.folds import fold_table, write_folds
from stpath.ingest.sheet import read_sheet

logs.to_file(snakemake.log[0])
cfg = snakemake.params.folds
folds = fold_table(read_sheet(snakemake.input[0]).reset_index(drop=True), cfg["scheme"], cfg["n_folds"], cfg["seed"])
for scheme, table in folds.groupby("scheme", sort=False):
    logging.info("%s: %d folds", scheme, table["fold"].nunique())
write_folds(folds, snakemake.output[0])
