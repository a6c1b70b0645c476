from stpath import logs
from stpath.metrics import landing_table, read_table, write_table

logs.to_file(snakemake.log[0])
write_table(landing_table(read_table(snakemake.input[0])), snakemake.output[0])
