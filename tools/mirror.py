"""A local mirror of public URLs, for tests and runs without the internet: files laid out under a
folder at ``<host>/<path>`` of their URLs, served over HTTP on 127.0.0.1, and configs whose
download URLs point at the mirror instead."""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import tarfile
import threading
from collections import defaultdict
from pathlib import Path

from stpath.ingest.download import Download


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def mirror_path(www: str | Path, url: str) -> Path:
    """Where the file of ``url`` lies in the mirror folder."""
    return Path(www) / re.sub(r"^https?://", "", url)


def mirrored_url(url: str, base: str) -> str:
    return re.sub(r"^https?://", f"{base}/", url)


def point_downloads_at(downloads: dict, base: str) -> dict:
    """The config's ``downloads`` with every URL on the mirror at ``base``."""
    return {
        rel: mirrored_url(e, base) if isinstance(e, str) else {**e, "url": mirrored_url(e["url"], base)}
        for rel, e in downloads.items()
    }


def mirror_downloads(www: str | Path, downloads: dict[str, Download], local_root: str | Path) -> None:
    """Lay out the mirror of ``downloads`` from local copies of their files (``local_root/<path>``):
    a plain entry's file at its URL's place, and the entries taken from one archive as members of a
    tar.gz at that URL's place, each named by its member glob with every ``*`` read as "mirror"."""
    archives: dict[str, list[Download]] = defaultdict(list)
    for entry in downloads.values():
        if entry.member:
            archives[entry.url].append(entry)
            continue
        target = mirror_path(www, entry.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(Path(local_root, entry.relpath).resolve())
    for url, entries in archives.items():
        target = mirror_path(www, url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(target, "w:gz") as tar:
            for entry in entries:
                tar.add(Path(local_root, entry.relpath).resolve(), entry.member.replace("*", "mirror"))


@contextlib.contextmanager
def serve(www: str | Path):
    """Serve the folder on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
