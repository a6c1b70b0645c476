from stpath import logs
from stpath.ingest.download import download_archive

logs.to_file(snakemake.log[0])
download_archive(snakemake.params.url, snakemake.output[0])
