from stpath import logs
from stpath.ingest.download import download, extract_member

logs.to_file(snakemake.log[0])
entry = snakemake.params.download
if entry.member:
    extract_member(entry, snakemake.input[0], snakemake.params.data_root)
else:
    download(entry, snakemake.params.data_root)
