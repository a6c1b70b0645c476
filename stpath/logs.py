"""Route a step's logging, warnings and progress bars to its Snakemake log file."""

from __future__ import annotations

import logging
import sys
import warnings


class _Tee:
    """A text stream writing to several files (the job log and a log that outlives the job)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


def to_file(path: str | None, level: int = logging.INFO, attempts: str | None = None, resuming: bool = False) -> None:
    """Logging, warnings, stdout and stderr (a traceback included) to ``path``. ``attempts``: a
    copy that Snakemake does not delete when it reruns the job, for a resumable job: a new run
    starts it afresh, a ``resuming`` one appends to it, so that a killed attempt's log survives its
    resumption (Snakemake deletes ``path`` before each attempt)."""
    if path:
        stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        if attempts:
            import os
            import time

            kept = open(attempts, "a" if resuming else "w", buffering=1)  # noqa: SIM115 - as long as the process
            what = "resumed" if resuming else "started"
            kept.write(f"--- attempt {what} {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()}), log {path}\n")
            stream.write(f"every attempt of this job, a killed one's included, is also logged in {attempts}\n")
            stream = _Tee(stream, kept)
        sys.stderr = stream  # tqdm and warnings write to stderr
        sys.stdout = stream
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=FutureWarning)


def job_warnings(folder, since: float) -> list[str]:
    """The warnings this project's code logged in the job logs under ``folder`` written since
    ``since`` (a time.time()): what the run's console summary repeats, one ``log: message`` each
    (third-party warnings stay in the logs)."""
    from pathlib import Path

    found = []
    for path in sorted(Path(folder).rglob("*.log")):
        if path.stat().st_mtime < since:
            continue
        for line in path.read_text(errors="replace").splitlines():
            if " WARNING stpath." in line:
                found.append(f"{path}: {line.split(' WARNING ', 1)[1]}")
    return found


def job_errors(folder, since: float) -> list[str]:
    """What stopped each job of this run that failed with a Python error: the last exception
    line of each log under ``folder`` written since ``since``, ``log: message``. A refusal
    (``InputError``) carries its file, problem and fix."""
    import re
    from pathlib import Path

    last_line = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception)): (.+)$")
    found = []
    for path in sorted(Path(folder).rglob("*.log")):
        if path.stat().st_mtime < since:
            continue
        lines = path.read_text(errors="replace").splitlines()
        if not any(line.startswith("Traceback (most recent call last)") for line in lines):
            continue
        for line in reversed(lines):
            match = last_line.match(line)
            if match:
                found.append(f"{path}: {match.group(2) if match.group(1) == 'InputError' else line}")
                break
    return found


def print_job_warnings(folder, since: float, errors: bool = False) -> None:
    """``job_warnings`` on the console, under a count (nothing when there is none); with
    ``errors`` (a failed run) first each failed job's error, its fix included."""
    failed = job_errors(folder, since) if errors else []
    if failed:
        print(f"{len(failed)} job(s) of this run stopped with:", *failed, sep="\n  ")
    warned = job_warnings(folder, since)
    if warned:
        print(f"{len(warned)} warning(s) in this run's job logs:", *warned, sep="\n  ")
