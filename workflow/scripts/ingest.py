from stpath import logs
from stpath.ingest.ingest import QC, ingest
from stpath.ingest.ingested import write_ingested

logs.to_file(snakemake.log[0])
write_ingested(
    ingest(snakemake.params.sample, QC.from_config(snakemake.params.qc), snakemake.params.finest_um),
    snakemake.output[0],
)
