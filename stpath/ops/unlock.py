"""Remove the Snakemake lock a killed run left behind (kill -9, power cut, scheduler), but only
when no Snakemake process is still working in this directory: unlocking under a live run lets two
runs write the same files.

    python -m stpath.ops.unlock [snakemake options, e.g. --configfile config/her2st.yaml]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]


def live_runs(workdir: str | Path) -> list[psutil.Process]:
    """Snakemake processes (not this one) whose working directory is ``workdir``."""
    workdir = Path(workdir).resolve()
    mine = {psutil.Process().pid, *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid in mine or not any("snakemake" in part for part in proc.info["cmdline"] or []):
                continue
            if Path(proc.cwd()).resolve() == workdir or str(workdir) in " ".join(proc.info["cmdline"]):
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
