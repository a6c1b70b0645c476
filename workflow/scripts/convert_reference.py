import time

from stpath import logs
from stpath.deconvolution.atlas import convert_wu2021

logs.to_file(snakemake.log[0])
start = time.perf_counter()
convert_wu2021(snakemake.input[0], snakemake.output[0])
print(f"wall time {time.perf_counter() - start:.0f} s")
