"""Public input files fetched into data_root (the config's ``downloads``): what is to be fetched,
fetching with a SHA-256 check, and taking one member out of a downloaded archive.

An entry is a URL, or ``{url, sha256, member}``. With ``member`` (a glob matched against the
archive's member names) the URL is a tar or zip archive: it is downloaded once under
``.archives/`` in data_root, and the one member that matches becomes the file. ``sha256`` is the
checksum of the file placed at the entry's path; a file that does not match is refused and not
kept. Every written file appears whole or not at all."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import shutil
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_path
from ..errors import InputError

log = logging.getLogger(__name__)

ARCHIVES = ".archives"  # under data_root: downloaded archives that entries take members from
CHUNK = 1 << 20
PROGRESS_EVERY = 256 << 20


@dataclass(frozen=True)
class Download:
    relpath: str  # where the file lands, under data_root
    url: str
    sha256: str = ""  # of the file at relpath; "" = not checked (the log prints it, to record)
    member: str = ""  # glob of the archive member that becomes the file; "" = the URL is the file

    @classmethod
    def of(cls, relpath: str, entry: str | dict) -> "Download":
        if isinstance(entry, str):
            return cls(relpath, entry)
        return cls(relpath, entry["url"], entry.get("sha256", "").lower(), entry.get("member", ""))

    @property
    def archive(self) -> str:
        """The archive's path under data_root (one per URL, shared by the entries that use it)."""
        return f"{ARCHIVES}/{hashlib.sha1(self.url.encode()).hexdigest()[:16]}" if self.member else ""


def downloads_of(config: dict) -> dict[str, Download]:
    return {rel: Download.of(rel, entry) for rel, entry in (config.get("downloads") or {}).items()}


def pending_downloads(config: dict) -> dict[str, Download]:
    """The downloads whose file is missing under data_root: only those get a download job (a rule
    never claims existing user data as its output)."""
    root = Path(config["data_root"])
    return {rel: d for rel, d in downloads_of(config).items() if not (root / rel).exists()}


def pending_archives(pending: dict[str, Download]) -> dict[str, str]:
    """Archive path under data_root -> URL, for the pending entries taken from an archive."""
    return {d.archive: d.url for d in pending.values() if d.member}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str, name: str, source: str) -> str:
    """The file's SHA-256; an ``InputError`` naming the file when it is not ``expected``."""
    got = sha256_of(path)
    if expected and got != expected:
        raise InputError(
            name,
            f"SHA-256 {got} of the file fetched from {source} is not the {expected} recorded in the config (downloads: {name}: sha256)",
            "the source changed or the transfer was damaged: run again to fetch it anew; if the new file is the one you want, record its SHA-256 in the config",
        )
    if not expected:
        log.info("%s: SHA-256 %s (not checked: record it in the config as downloads: %s: sha256)", name, got, name)
    return got


def fetch(url: str, out_path: str | Path, *, timeout: float = 120) -> None:
    """Stream ``url`` to ``out_path`` (a temporary path: callers place it), logging progress."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(out_path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done, next_report = 0, PROGRESS_EVERY
        while block := response.read(CHUNK):
            out.write(block)
            done += len(block)
            if done >= next_report:
                log.info("%s: %.0f of %s MB", url, done / 2**20, f"{total / 2**20:.0f}" if total else "?")
                next_report += PROGRESS_EVERY
        if total and done != total:
            raise OSError(f"{url}: transfer ended after {done} of {total} bytes")
    log.info("%s: %.1f MB fetched", url, done / 2**20)


def download_archive(url: str, dest: str | Path) -> None:
    """Fetch an archive that entries take members from (their checksums are the members')."""
    with atomic_path(dest) as tmp:
        fetch(url, tmp)


def download(entry: Download, data_root: str | Path) -> None:
    """Fetch ``entry.url`` to its path, check its SHA-256, keep it only when it matches."""
    dest = Path(data_root) / entry.relpath
    with atomic_path(dest) as tmp:
        fetch(entry.url, tmp)
        check_sha256(tmp, entry.sha256, entry.relpath, entry.url)


def _members(archive: Path) -> tuple[list[str], object]:
    if tarfile.is_tarfile(archive):
        handle = tarfile.open(archive)
        return [m.name for m in handle.getmembers() if m.isfile()], handle
    if zipfile.is_zipfile(archive):
        handle = zipfile.ZipFile(archive)
        return [n for n in handle.namelist() if not n.endswith("/")], handle
    raise InputError(
        archive,
        "is neither a tar nor a zip archive",
        "check the URL of the entries that name a member; delete the file to fetch it again",
    )


def extract_member(entry: Download, archive: str | Path, data_root: str | Path) -> None:
    """Copy the one member of ``archive`` that matches ``entry.member`` to the entry's path."""
    archive = Path(archive)
    names, handle = _members(archive)
    with handle:
        matches = fnmatch.filter(names, entry.member)
        if len(matches) != 1:
            shown = ", ".join(matches[:5]) or "none"
            raise InputError(
                entry.relpath,
                f"the member pattern {entry.member!r} matches {len(matches)} files of the archive {entry.url} (matches: {shown})",
                "change downloads: member in the config so that it names exactly one file of the archive",
            )
        source = handle.extractfile(matches[0]) if isinstance(handle, tarfile.TarFile) else handle.open(matches[0])
        dest = Path(data_root) / entry.relpath
        with atomic_path(dest) as tmp:
            with source, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            check_sha256(tmp, entry.sha256, entry.relpath, f"{entry.url} ({matches[0]})")
    log.info("%s: member %s of %s", entry.relpath, matches[0], entry.url)
