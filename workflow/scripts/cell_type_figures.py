import pandas as pd

from stpath import logs
from stpath.abundance import figures
from stpath.atomic import atomic_path

logs.to_file(snakemake.log[0])
summary = pd.read_csv(snakemake.input.summary, sep="\t")
per_type = pd.read_csv(snakemake.input.per_type, sep="\t")
matrices = pd.read_csv(snakemake.input.colocalisation, sep="\t")
with atomic_path(snakemake.output.pearson) as tmp:
    figures.pearson_bars(per_type, tmp)
with atomic_path(snakemake.output.colocalisation) as tmp:
    figures.colocalisation_heatmaps(matrices, summary[summary["metric"] == "colocalisation_r"], tmp)
