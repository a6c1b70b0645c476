from pathlib import Path

from stpath import logs
from stpath.genes.selection import GeneSetSettings, write_gene_sets
from stpath.manifest import job_files

logs.to_file(snakemake.log[0])
write_gene_sets(
    [Path(p) for p in job_files(snakemake)["ingested"]],
    snakemake.output.genes,
    [Path(p) for p in snakemake.output.normalised],
    GeneSetSettings.from_config(snakemake.params.genes),
)
