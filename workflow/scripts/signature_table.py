from pathlib import Path

from stpath import logs
from stpath.deconvolution.signatures import read_signatures, write_signatures

logs.to_file(snakemake.log[0])
write_signatures(read_signatures(Path(snakemake.input[0])), snakemake.output[0])
