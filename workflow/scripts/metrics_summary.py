import pandas as pd

from stpath import logs
from stpath.atomic import atomic_path

logs.to_file(snakemake.log[0])
summary = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input], ignore_index=True)
with atomic_path(snakemake.output[0]) as tmp:
    summary.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
