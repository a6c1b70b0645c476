"""A model's lifecycle in the workflow: four jobs over one ``{model}`` wildcard (train a split,
predict the held-out spots, map the whole slides, bundle the final model). Above both method
branches: each job runs in the branch of the model's task (its ``jobs`` module)."""

from __future__ import annotations

import importlib

from .models import registry
from .training.job import ModelJob

STAGES = ("train", "predict", "map_slides", "bundle")
BRANCH_JOBS = {registry.EXPRESSION: "stpath.expression.jobs", registry.CELL_TYPES: "stpath.celltypes.jobs"}


def run(stage: str, job: ModelJob) -> None:
    """Run ``stage`` of ``job.model`` in its branch, on ``job.threads`` CPU threads."""
    import torch

    if stage not in STAGES:
        raise ValueError(f"unknown lifecycle stage {stage!r}; use one of {STAGES}")
    torch.set_num_threads(job.threads)
    branch = importlib.import_module(BRANCH_JOBS[registry.get(job.model).task])
    getattr(branch, stage)(job)
    job.write_index()


def log_training(log: str, workdir) -> None:
    """A training job's log, and beside it every attempt's (``<log>.attempts``): Snakemake deletes
    the job's log before it reruns a killed job; the attempts log keeps the killed attempt's and
    the resumed one's after it."""
    from . import logs
    from .training.checkpoint import has_resume_point

    logs.to_file(log, attempts=f"{log}.attempts", resuming=has_resume_point(workdir))
