from stpath import lifecycle, logs
from stpath.training.checkpoint import has_resume_point
from stpath.training.job import ModelJob

# every attempt's log, a killed one's included, beside the job's log (Snakemake deletes that one)
attempts = f"{snakemake.log[0]}.attempts"
logs.to_file(snakemake.log[0], attempts=attempts, resuming=has_resume_point(snakemake.params.workdir))
lifecycle.run("train", ModelJob.of(snakemake))
