"""What the workflow costs as the cohort grows: demo-generated cohorts (``config/cohort.yaml`` with
``demo.cohort`` set to each size) planned with ``snakemake -n`` (``dryrun``), or run end to end
(``run``), in fresh working directories.

``dryrun``: per size and fold scheme (``5``: five patient folds; ``patient``: one fold per patient),
the jobs planned, the wall time of the dry-run and its peak RSS (the Snakemake process; nothing
else should be running). ``run``: the whole workflow per size, then a table per rule family from
Snakemake's own benchmark files: jobs, wall seconds, CPU seconds and the largest peak RSS, against
the sections and spots of the run (``--keep`` leaves the working directories for a look).

    python -m tools.bench.scale dryrun [--sizes 40:8 360:40 1000:100 3000:300] [--folds 5 patient] [--out t.tsv]
    python -m tools.bench.scale run --sizes 6:2 12:4 36:8 [--cores 2] [--set KEY=YAML ...] [--out t.tsv]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from tools.bench import show

REPO = Path(__file__).resolve().parents[2]
COHORT = REPO / "config" / "cohort.yaml"
FOLDS = {"5": 5, "patient": 0}  # folds.n_folds of each scheme's name (0: one fold per patient)


def size(text: str) -> tuple[int, int]:
    """``sections:patients``."""
    sections, patients = (int(v) for v in text.split(":"))
    return sections, patients


def cohort_config(workdir: Path, sections: int, patients: int, n_folds: int, overrides: dict | None = None) -> Path:
    """config/cohort.yaml at another size (and ``overrides``, dotted keys), written to ``workdir``."""
    config = yaml.safe_load(COHORT.read_text())
    config["demo"]["cohort"].update(sections=sections, patients=patients)
    config["folds"]["n_folds"] = n_folds
    config["samples"] = str(workdir / "resources" / "cohort" / "samples.tsv")
    for key, value in (overrides or {}).items():
        *parents, last = key.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    path = workdir / "cohort.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path, configfile: Path, cores: int, *args: str
) -> tuple[subprocess.CompletedProcess, float, float]:
    """Snakemake in ``workdir``: its result, wall seconds and peak RSS (GB) of the process."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--cores", str(cores), "--configfile", str(configfile), *args]
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (KB on Linux)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        out = log.read()
    rss = usage.ru_maxrss / 1e6
    return subprocess.CompletedProcess(cmd, proc.returncode, out), wall, rss


def total_jobs(stdout: str) -> int:
    found = re.search(r"^total\s+(\d+)$", stdout, re.M)
    if not found:
        raise RuntimeError(f"no job count in the dry-run's output:\n{stdout[-3000:]}")
    return int(found.group(1))


def dryrun(sizes, schemes, cores: int) -> pd.DataFrame:
    rows = []
    for sections, patients in sizes:
        for scheme in schemes:
            with tempfile.TemporaryDirectory(prefix="stpath-scale-") as tmp:
                workdir = Path(tmp)
                configfile = cohort_config(workdir, sections, patients, FOLDS[scheme])
                result, wall, rss = snakemake(workdir, configfile, cores, "-n", "--quiet", "rules")
                if result.returncode:
                    raise RuntimeError(result.stdout[-3000:])
                jobs = total_jobs(result.stdout)
            rows.append(
                dict(
                    sections=sections,
                    patients=patients,
                    folds=scheme,
                    jobs=jobs,
                    dryrun_s=round(wall, 1),
                    ms_per_job=round(1000 * wall / jobs, 1),
                    peak_rss_gb=round(rss, 2),
                )
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def planned_jobs(stdout: str) -> list[tuple[str, list[str], list[str]]]:
    """(rule, inputs, outputs) of every job a dry-run printed (``snakemake -n``, not quiet)."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", stdout):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if rule:
            files = {k: re.search(rf"^\s+{k}: (.*)$", block, re.M) for k in ("input", "output")}
            inputs, outputs = ([] if files[k] is None else files[k].group(1).split(", ") for k in ("input", "output"))
            jobs.append((rule.group(1), inputs, outputs))
    return jobs


def matching_cost(jobs) -> collections.Counter:
    """What Snakemake's DAG building pays to connect these jobs, in file comparisons, by pair of
    rules (reading, making): for every input made by another job, that job's inputs (each
    compared with the file) and its outputs up to the one asked for (each matched against it).
    Linear in the sections when a job that reads every section has few inputs or outputs that
    others ask for one by one (stpath.manifest); quadratic otherwise."""
    made = {}
    for rule, inputs, outputs in jobs:
        for position, path in enumerate(outputs, 1):
            made[path] = (rule, len(inputs) + position)
    cost = collections.Counter()
    for rule, inputs, _ in jobs:
        for path in inputs:
            if path in made:
                cost[rule, made[path][0]] += made[path][1]
    return cost


def family(benchmark: Path, root: Path) -> str:
    """The rule a benchmark file belongs to: its folder under benchmarks/<dataset>, or its name."""
    parts = benchmark.relative_to(root).parts
    return parts[0] if len(parts) > 1 else benchmark.stem


def rule_table(workdir: Path, dataset: str) -> pd.DataFrame:
    """Per rule family, from Snakemake's benchmark files: jobs, wall s, CPU s, largest peak RSS (MB)."""
    root = workdir / "benchmarks" / dataset
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        b = pd.read_csv(path, sep="\t").iloc[-1]
        rows.append(dict(rule=family(path, root), s=b["s"], cpu_s=b["cpu_time"], max_rss_mb=b["max_rss"]))
    table = pd.DataFrame(rows)
    return (
        table.groupby("rule")
        .agg(jobs=("s", "size"), wall_s=("s", "sum"), cpu_s=("cpu_s", "sum"), max_rss_mb=("max_rss_mb", "max"))
        .reset_index()
    )


def spots_of(workdir: Path, dataset: str) -> int:
    import anndata as ad

    return sum(ad.read_h5ad(p, backed="r").n_obs for p in (workdir / "results" / dataset / "ingest").glob("*.h5ad"))


def run(sizes, cores: int, overrides: dict, keep: bool) -> pd.DataFrame:
    tables = []
    for sections, patients in sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"stpath-scale-{sections}-"))
        configfile = cohort_config(workdir, sections, patients, 4, overrides)
        result, wall, _ = snakemake(workdir, configfile, cores)
        if result.returncode:
            raise RuntimeError(result.stdout[-5000:])
        table = rule_table(workdir, "cohort")
        table.insert(0, "sections", sections)
        table.insert(1, "spots", spots_of(workdir, "cohort"))
        table.insert(2, "run_wall_s", round(wall))
        tables.append(table)
        print(table.to_string(index=False), flush=True)
        print(f"kept: {workdir}" if keep else "", flush=True)
        if not keep:
            subprocess.run(["rm", "-rf", str(workdir)], check=True)
    return pd.concat(tables)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["dryrun", "run"])
    parser.add_argument("--sizes", type=size, nargs="+", help="sections:patients")
    parser.add_argument("--folds", nargs="+", choices=list(FOLDS), default=["5", "patient"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="KEY=YAML laid over config/cohort.yaml (run)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.mode == "dryrun":
        table = dryrun(args.sizes or [(40, 8), (360, 40), (1000, 100), (3000, 300)], args.folds, args.cores)
    else:
        overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
        table = run(args.sizes or [(6, 2), (12, 4), (36, 8)], args.cores, overrides, args.keep)
    show(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
