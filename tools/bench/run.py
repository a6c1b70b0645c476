"""One real training job of the workflow, timed end to end: the job's wall time (Snakemake's
benchmark file: interpreter start, imports, reading the patches, training, resume points, writing
the outputs) against the epochs' compute and wall seconds from its history.

Runs the workflow in ``--directory`` (default: the repository) with the given config, first
making the job's inputs if they are missing (not timed), then reruns only that training job.
Run: python -m tools.bench.run [--configfile config/config.yaml] [--model cmrcnet] [--fold 0]
     [--directory .] [--cores 2] [--checkpoint-minutes 5] [--config KEY=VALUE ...] [--out bench.tsv]
On a GPU machine: python -m tools.bench.run --configfile config/her2st.yaml --cores 16
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from stpath.models import registry
from tools.bench import show

REPO = Path(__file__).resolve().parents[2]


def snakemake(target: str, directory: Path, configfiles: list[Path], cores: int, *args: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        target,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(directory),
        "--cores",
        str(cores),
        *args,
        "--configfile",
        *map(str, configfiles),
    ]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        sys.exit(f"snakemake failed ({' '.join(cmd)}):\n{done.stdout[-3000:]}")


def job_paths(config: dict, model: str, fold: int) -> dict[str, Path]:
    """The training job's checkpoint (the target), history and benchmark file."""
    out = Path("results") / config["dataset"] / "models" / model / f"fold{fold}"
    rule = "train_model"
    return {
        "rule": rule,
        "checkpoint": out / "best.pt",
        "history": out / "history.tsv",
        "benchmark": Path("benchmarks") / config["dataset"] / rule / f"{model}_fold{fold}.tsv",
    }


def report(history: pd.DataFrame, job_seconds: float) -> dict:
    """Per-epoch compute and wall seconds, and where the job's time went."""
    compute, wall = history["compute_seconds"], history["wall_seconds"]
    return {
        "epochs": len(history),
        "compute_s_per_epoch": round(float(compute.mean()), 4),
        "wall_s_per_epoch": round(float(wall.mean()), 4),
        "wall_over_compute": round(float(wall.sum() / compute.sum()), 4),
        "resume_points": int(history["resume_point"].sum()),
        "epochs_s": round(float(wall.sum()), 2),
        "job_s": round(job_seconds, 2),
        "outside_epochs_s": round(job_seconds - float(wall.sum()), 2),  # start-up, data, outputs
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument(
        "--model",
        default="cmrcnet",
        choices=[
            *registry.names(registry.EXPRESSION),
            *[n for n in registry.names(registry.CELL_TYPES) if not registry.get(n).closed_form],
        ],
    )
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--directory", type=Path, default=REPO)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--checkpoint-minutes", type=float, default=None, help="override training.checkpoint_minutes")
    ap.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help="passed to snakemake --config")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    configfile = args.configfile.resolve()
    config = yaml.safe_load(configfile.read_text())
    paths = job_paths(config, args.model, args.fold)
    target = str(paths["checkpoint"])
    overrides = ["--config", *args.config] if args.config else []
    with tempfile.TemporaryDirectory() as tmp:
        configfiles = [configfile]
        if args.checkpoint_minutes is not None:  # a file, not --config: that one passes strings
            configfiles.append(Path(tmp) / "training.yaml")
            configfiles[-1].write_text(yaml.safe_dump({"training": {"checkpoint_minutes": args.checkpoint_minutes}}))
        snakemake(target, args.directory, configfiles, args.cores, *overrides)  # the job's inputs (and the job, once)
        snakemake(
            target,
            args.directory,
            configfiles,
            args.cores,
            "--forcerun",
            paths["rule"],
            "--allowed-rules",
            paths["rule"],
            *overrides,
        )
    history = pd.read_csv(args.directory / paths["history"], sep="\t")
    job_seconds = float(pd.read_csv(args.directory / paths["benchmark"], sep="\t")["s"].iloc[0])
    row = {"config": configfile.name, "model": args.model, "fold": args.fold} | report(history, job_seconds)
    table = pd.DataFrame([row])
    show(table, args.out)


if __name__ == "__main__":
    main()
