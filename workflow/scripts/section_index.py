import logging

from stpath import logs
from stpath.manifest import write_index

logs.to_file(snakemake.log[0])
write_index(snakemake.output[0], dict(zip(snakemake.params.samples, snakemake.input)))
logging.getLogger("stpath.section_index").info("%d files indexed", len(snakemake.input))
