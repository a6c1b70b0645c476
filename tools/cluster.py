"""Pre-flight check of a SLURM run: every job's request (CPUs, memory, GPUs) must fit on some node
of its partition. SLURM accepts a job that asks for more CPUs than any node has and leaves it
pending forever; this check stops the run before submitting anything, with the scheduler's own
view of the partition (sinfo) in the message."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    rule: str
    partition: str  # "" = the cluster's default partition
    cpus: int
    mem_mb: int
    gpus: int


@dataclass(frozen=True)
class NodeLimits:
    cpus: int
    mem_mb: int
    gpus: int


def _gpus(gres: str) -> int:
    """GPU count of an sinfo GRES field such as 'gpu:a100:4(S:0-1),shard:8' or '(null)'."""
    total = 0
    for item in gres.split(","):
        m = re.match(r"gpu(?::[^:()]+)?:(\d+)", item.strip())
        if m:
            total += int(m.group(1))
    return total


def partition_limits(partition: str, sinfo: str = "sinfo") -> NodeLimits | None:
    """The largest CPU count, memory and GPU count of one node of ``partition`` (default partition
    for ""), or None when SLURM does not know the partition."""
    args = [sinfo, "-h", "-N", "-o", "%P|%c|%m|%G"]
    if partition:
        args += ["-p", partition]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    if not partition:
        rows = [r for r in rows if r[0].endswith("*")]
    if not rows:
        return None
    return NodeLimits(max(int(r[1]) for r in rows), max(int(r[2]) for r in rows), max(_gpus(r[3]) for r in rows))


def impossible(requests: list[Request], limits) -> list[str]:
    """One message per request no node of its partition can run (``limits``: partition -> NodeLimits
    or None for an unknown partition)."""
    problems = []
    for req in requests:
        node = limits(req.partition)
        where = f"partition {req.partition!r}" if req.partition else "the default partition"
        if node is None:
            problems.append(
                f"rule {req.rule}: {where} does not exist (sinfo lists no node in it); set slurm_partition in the profile to one `sinfo -s` lists"
            )
            continue
        for what, asked, has, fix in (
            ("CPUs", req.cpus, node.cpus, "lower its threads (set-threads in the profile, or --max-threads)"),
            (
                "MB of memory",
                req.mem_mb,
                node.mem_mb,
                "lower its mem_mb (set-resources in the profile) or use a partition with larger nodes",
            ),
            ("GPUs", req.gpus, node.gpus, "set its slurm_partition to a GPU partition"),
        ):
            if asked > has:
                problems.append(
                    f"rule {req.rule} asks for {asked} {what}, but the largest node of {where} has {has}: it would pend forever; {fix}"
                )
    return problems


def check_slurm_jobs(jobs, default_partition: str = "") -> None:
    """Raise ``RuntimeError`` listing every job of ``jobs`` (Snakemake jobs) that cannot run."""
    requests = {}
    for job in jobs:
        res = job.resources
        req = Request(
            job.rule.name,
            str(res.get("slurm_partition", default_partition) or ""),
            int(job.threads),
            int(res.get("mem_mb", 0) or 0),
            int(res.get("gpu", 0) or 0),
        )
        requests.setdefault(req, None)
    cache: dict[str, NodeLimits | None] = {}

    def limits(partition):
        if partition not in cache:
            cache[partition] = partition_limits(partition)
        return cache[partition]

    problems = impossible(list(requests), limits)
    if problems:
        raise RuntimeError("SLURM cannot run these jobs:\n  " + "\n  ".join(problems))


def slurm_preflight(jobs) -> None:
    """The workflow's onstart check on SLURM: a job that no node can hold would pend forever, so
    the run stops before submitting anything, each impossible job named with its fix."""
    from snakemake.exceptions import WorkflowError

    try:
        check_slurm_jobs(jobs)
    except RuntimeError as exc:
        raise WorkflowError(f"{exc}\nFix: edit workflow/profiles/slurm/config.yaml as each line says.") from None
