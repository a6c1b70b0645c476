import logging

from stpath import logs
from stpath.ingest.folds import FoldSettings, fold_table, write_folds
from stpath.ingest.sheet import read_sheet

logs.to_file(snakemake.log[0])
# the labelled slides only: a slide without spatial data is never trained on nor scored
sheet = read_sheet(snakemake.input[0]).loc[snakemake.params.samples].reset_index(drop=True)
folds = fold_table(sheet, FoldSettings.from_config(snakemake.params.folds))
for scheme, table in folds.groupby("scheme", sort=False):
    logging.info("%s: %d folds", scheme, table["fold"].nunique())
write_folds(folds, snakemake.output[0])
