from pathlib import Path

import pandas as pd

from stpath import expression_figures as ef
from stpath import logs
from stpath.atomic import atomic_path

logs.to_file(snakemake.log[0])
histories = {}
for path in snakemake.input.histories:
    model, fold = Path(path).parts[-3], int(Path(path).parts[-2].removeprefix("fold"))
    histories[(model, fold)] = pd.read_csv(path, sep="\t")
with atomic_path(snakemake.output.curves) as tmp:
    ef.training_curves(histories, tmp)
with atomic_path(snakemake.output.per_gene) as tmp:
    ef.per_gene_distributions(pd.read_csv(snakemake.input.per_gene, sep="\t"), tmp)
with atomic_path(snakemake.output.summary) as tmp:
    ef.summary_bars(pd.read_csv(snakemake.input.summary, sep="\t"), tmp)
