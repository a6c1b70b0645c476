from stpath import logs
from stpath.atomic import atomic_path
from stpath.celltypes import figures
from stpath.celltypes.settings import CellTypeSettings
from stpath.metrics import read_table

logs.to_file(snakemake.log[0])
summary = read_table(snakemake.input.summary)
with atomic_path(snakemake.output.pearson) as tmp:
    figures.pearson_bars(
        read_table(snakemake.input.per_type),
        tmp,
        CellTypeSettings.from_config(snakemake.params.models).describe_encoder(),
    )
with atomic_path(snakemake.output.summary) as tmp:
    figures.summary_bars(summary, tmp)
with atomic_path(snakemake.output.colocalisation) as tmp:
    figures.colocalisation_heatmaps(
        read_table(snakemake.input.colocalisation),
        summary[summary["metric"].isin(["colocalisation_r", "colocalisation_moran_r"])],
        tmp,
    )
