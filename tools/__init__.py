"""Tooling that knows about Snakemake and the repository: the static check of the per-step conda
envs (``envcheck``), the SLURM pre-flight check (``cluster``) and the safe removal of a killed
run's lock (``unlock``). The pipeline library never imports it."""
