from pathlib import Path

from stpath import logs
from stpath.atomic import atomic_path
from stpath.expression import figures
from stpath.metrics import read_table
from stpath.training.checkpoint import read_history

logs.to_file(snakemake.log[0])
histories = {}
for path in snakemake.input.histories:  # models/{model}/fold{k}/history.tsv
    model, fold = Path(path).parts[-3], int(Path(path).parts[-2].removeprefix("fold"))
    histories[(model, fold)] = read_history(path)
with atomic_path(snakemake.output.curves) as tmp:
    figures.training_curves(histories, tmp)
with atomic_path(snakemake.output.per_gene) as tmp:
    figures.per_gene_distributions(read_table(snakemake.input.per_gene), tmp)
with atomic_path(snakemake.output.summary) as tmp:
    figures.summary_bars(read_table(snakemake.input.summary), tmp)
