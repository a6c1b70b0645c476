from stpath import lifecycle, logs
from stpath.training.job import ModelJob

logs.to_file(snakemake.log[0])
lifecycle.run("predict", ModelJob.of(snakemake))
