"""Write outputs so that a crash never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.
    The temporary name keeps the extension, which writers such as matplotlib read the format from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove the temporary files a killed writer of ``path`` left (``.<stem>.partial-<pid><suffix>``
    whose process is gone): a kill -9 cannot run the cleanup above. Returns what was removed."""
    removed = []
    for tmp in path.parent.glob(f".{path.stem}.partial-*{path.suffix}"):
        pid = tmp.name[len(f".{path.stem}.partial-") : len(tmp.name) - len(path.suffix)]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
