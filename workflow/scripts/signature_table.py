from pathlib import Path

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution.reference import read_signatures

logs.to_file(snakemake.log[0])
signatures = read_signatures(Path(snakemake.input[0]))
with atomic_path(snakemake.output[0]) as tmp:
    signatures.to_csv(tmp, sep="\t", float_format="%.6g")
