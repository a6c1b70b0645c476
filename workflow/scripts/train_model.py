from stpath import lifecycle
from stpath.training.job import ModelJob

lifecycle.log_training(snakemake.log[0], snakemake.params.workdir)  # every attempt's log kept
lifecycle.run("train", ModelJob.of(snakemake))
