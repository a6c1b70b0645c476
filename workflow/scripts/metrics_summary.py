from stpath import logs
from stpath.metrics import stack_summaries, write_table

logs.to_file(snakemake.log[0])
write_table(stack_summaries(snakemake.input), snakemake.output[0])
