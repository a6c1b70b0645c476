from pathlib import Path

from stpath import logs
from stpath.genes.selection import GeneSetSettings, write_gene_sets

logs.to_file(snakemake.log[0])
write_gene_sets(
    [Path(p) for p in snakemake.input],
    snakemake.output.genes,
    [Path(p) for p in snakemake.output.normalised],
    GeneSetSettings.from_config(snakemake.params.genes),
)
