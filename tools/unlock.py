"""Remove the Snakemake lock a killed run left behind (kill -9, power cut, scheduler), but only
when no Snakemake process is still working in this directory: unlocking under a live run lets two
runs write the same files.

    python -m tools.unlock [snakemake options, e.g. --configfile config/her2st.yaml]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def run_directory(cmdline: list[str], cwd: str | Path) -> Path:
    """The directory a Snakemake command works in: its ``--directory``/``-d`` (relative to the
    process's own working directory), else that working directory. A path elsewhere on its
    command line (its Snakefile in this repository, say) does not make it a run here."""
    for i, part in enumerate(cmdline):
        for flag in ("--directory", "-d"):
            if part == flag and i + 1 < len(cmdline):
                return (Path(cwd) / cmdline[i + 1]).resolve()
            if part.startswith(f"{flag}=") and flag.startswith("--"):
                return (Path(cwd) / part.split("=", 1)[1]).resolve()
    return Path(cwd).resolve()


def live_runs(workdir: str | Path) -> list[psutil.Process]:
    """Snakemake processes (not this one) that work in ``workdir``."""
    workdir = Path(workdir).resolve()
    mine = {psutil.Process().pid, *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if proc.pid in mine or not any("snakemake" in part for part in cmdline):
                continue
            if run_directory(cmdline, proc.cwd()) == workdir:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
            continue
    return found


def main(argv: list[str]) -> int:
    workdir = Path.cwd()
    running = live_runs(workdir)
    if running:
        listed = "\n".join(f"  pid {p.pid}: {' '.join(p.cmdline())[:160]}" for p in running)
        print(
            f"{workdir}: a Snakemake run is still working here; the lock is not stale:\n{listed}\n"
            "Fix: wait for it to end, or stop it (Ctrl-C, or kill the pid above), then run this again.",
            file=sys.stderr,
        )
        return 1
    if not any((workdir / ".snakemake" / "locks").glob("*")):
        print(f"{workdir}: no Snakemake lock to remove.")
        return 0
    if not any(a in ("-s", "--snakefile") for a in argv) and not (workdir / "Snakefile").exists():
        argv = ["--snakefile", str(REPO / "Snakefile"), *argv]  # a run in another working directory
    return subprocess.call([sys.executable, "-m", "snakemake", "--unlock", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
