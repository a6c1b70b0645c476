from stpath import logs
from stpath.spots import qc_figure

logs.to_file(snakemake.log[0])
qc_figure(snakemake.input.adata, snakemake.input.tiles, snakemake.input.patches, snakemake.output[0])
