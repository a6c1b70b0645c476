"""Tooling that knows about Snakemake and the repository: the static check of the per-step conda
envs (``envcheck``) and the SLURM pre-flight check (``cluster``). The pipeline library never
imports it."""
