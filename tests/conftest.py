import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
sys.path.insert(0, str(REPO))


def shared(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (tests read ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def demo_slide(tmp_path_factory):
    """A small demo slide (pyramidal TIFF + Space Ranger folder), generated once per session."""
    from stpath.demo import synth, write

    root = tmp_path_factory.mktemp("demo")
    params = synth.DemoSettings(size_px=1536, n_genes=150)
    sig = synth.signatures(3, params.n_genes)
    s = synth.slide(3, "T1", "P1", sig, params)
    write.write_pyramid_tiff(root / "slide.tif", s.image, params.um_per_px)
    write.write_spaceranger(root / "sr", s.image, s.spots, s.counts, list(sig.columns), params.um_per_px)
    return {
        "root": root,
        "slide": root / "slide.tif",
        "spaceranger": root / "sr",
        "data": s,
        "sig": sig,
        "params": params,
    }


def run_in_group(cmd, cwd=None, timeout=1200, env=None) -> subprocess.CompletedProcess:
    """``subprocess.run`` in a process group of its own, killed whole when the command times out,
    fails or ends (a Snakemake killed alone leaves its job scripts running)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:
        _kill_group(proc.pid)
        proc.communicate()
        raise
    _kill_group(proc.pid)  # jobs the command left behind
    return subprocess.CompletedProcess(cmd, proc.returncode, out)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_snakemake(args, cwd, timeout=1200, env=None):
    """Run the workflow in a copy-free way: Snakefile from the repo, working directory ``cwd``, in
    a process group of its own (``run_in_group``)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(cwd), *args]
    env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return run_in_group(cmd, timeout=timeout, env=env)


def config_args(name, **overrides):
    """Point a config at absolute paths so that the workflow can run in any working directory."""
    import yaml

    cfg = yaml.safe_load((REPO / "config" / name).read_text())
    # a sheet under resources/ is written by the run (demo.cohort): it goes to the working directory
    values = {} if cfg["samples"].startswith("resources/") else {"samples": str(REPO / cfg["samples"])}
    if not cfg["data_root"].startswith("resources/"):
        values["data_root"] = str((REPO / cfg["data_root"]).resolve())
    values.update(overrides)
    return ["--configfile", str(REPO / "config" / name), "--config", *[f"{k}={v}" for k, v in values.items()]]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The whole demo workflow with the demo profile, run locally once per session: (working
    directory, result). 63 jobs: about 7 min on 2 cores alone, longer while other tests share
    them, hence the long limit."""
    workdir = tmp_path_factory.mktemp("demo_local")
    return workdir, run_snakemake(
        [
            "--cores",
            "2",
            "--workflow-profile",
            str(REPO / "workflow" / "profiles" / "demo"),
            *config_args("config.yaml"),
        ],
        workdir,
        timeout=2700,
    )


def tiny_encoder(depth: int = 2, img_size: int = 64):
    """The tests' small ViT (32 wide, 2 heads, 16-px patches): fast on a CPU, same code path."""
    from stpath.models.encoders import EncoderConfig

    return EncoderConfig(embed_dim=32, depth=depth, num_heads=2, img_size=img_size, patch_size=16)


# test inputs written as .gz: the fastest level (the default level took 6.5 s for one HER2ST table)
FAST_GZIP = {"method": "gzip", "compresslevel": 1}


def cells(line: str) -> list[str]:
    """The cells of a markdown table row, stripped (bold markers too)."""
    return [c.strip().strip("*") for c in line.strip().strip("|").split("|")]


def doc_table(doc: str, header: str) -> list[list[str]]:
    """The rows under ``header`` (a whole header line) in docs/<doc>: tests check the docs' numbers."""
    lines = (REPO / "docs" / doc).read_text().splitlines()
    rows = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(cells(line))
    return rows


def doc_row(doc: str, start: str) -> list[str]:
    """The cells of the first table row of docs/<doc> whose first cell starts with ``start``."""
    return cells(next(x for x in (REPO / "docs" / doc).read_text().splitlines() if x.startswith(f"| {start}")))


def training_jobs(dry_run: str) -> dict[str, int]:
    """Training jobs of a Snakemake dry run's output (its ``train_model`` jobs) per registry task."""
    import re

    from stpath.models import registry

    found = re.findall(r"output: \S+/models/(\w+)/(?:fold\d+|final)/best\.pt", dry_run)
    counts = {registry.EXPRESSION: 0, registry.CELL_TYPES: 0}
    for model in found:
        counts[registry.get(model).task] += 1
    return counts


def write_tsv(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


__all__ = [
    "FAST_GZIP",
    "REPO",
    "doc_row",
    "doc_table",
    "shared",
    "run_in_group",
    "run_snakemake",
    "training_jobs",
    "write_tsv",
    "np",
    "shutil",
]
