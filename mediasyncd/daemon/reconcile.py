"""The reconcile scan: diff the drop folders against the index.

Run at start (drops made while the daemon was down), after a folder reappears, after an
inotify overflow, and periodically as the safety net for events watchdog drops silently
(gorakhargosh/watchdog#654), the way Syncthing's hourly rescan is.

A drop is a top-level entry of a watched folder: a file, or a folder dropped as a whole
(an unpacked export is one source, not thousands). Symlinks, FIFOs, sockets and devices
are never drops (refused at lstat, with the reason logged): opening a FIFO would block
the daemon, and a symlink could point the service at files the dropper may not read, at
`/`, or at the index itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mediasyncd.daemon.settle import is_ignored
from mediasyncd.fs.guard import RefusedPath, check
from mediasyncd.fs.pathtext import path_text
from mediasyncd.index import Index, jobs, sources
from mediasyncd.ingest.fingerprint import fingerprint_of
from mediasyncd.logconfig import get_logger

log = get_logger("mediasyncd.daemon")


@dataclass(frozen=True)
class DropFolder:
    path: Path
    # Entries of this folder that are not drops: a done folder, the state dir.
    exclude: frozenset[Path] = frozenset()


def list_drops(folder: DropFolder, ignore: Iterable[str]) -> Iterator[Path]:
    """The drops in one folder, sorted by name. Raises OSError if it cannot be listed."""
    patterns = list(ignore)
    with os.scandir(folder.path) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        path = folder.path / name
        if is_ignored(name, patterns) or path in folder.exclude:
            continue
        try:
            check(path)
        except RefusedPath as exc:
            log.warning("drop.refused", source=path_text(path), reason=exc.strerror)
            continue
        except OSError:
            continue
        yield path


def needs_ingest(index: Index, path: Path, fingerprint: str) -> bool:
    """Whether a drop in this state still has to be queued.

    Not when: it is already waiting in the queue; it is being ingested now in this very
    version; this version was ingested (ok or partial) or failed; or its last job failed
    in this version (a failure is not retried in a loop: a changed file is a new attempt).
    """
    text = path_text(path)
    last = jobs.latest(index, text)
    if last is not None:
        if last.state == "queued":
            return False
        if last.state == "running" and last.fingerprint == fingerprint:
            return False
        if last.state == "failed" and last.fingerprint == fingerprint:
            return False
    source = sources.get_source(index, text)
    return not (
        source is not None
        and source.fingerprint == fingerprint
        and source.state in {"ok", "partial", "failed"}
    )


def reconcile(
    index: Index, folders: Iterable[DropFolder], ignore: Iterable[str]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Drops that need an ingest, and folders that could not be listed (with the error)."""
    patterns = list(ignore)
    wanted: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for folder in folders:
        try:
            drops = list(list_drops(folder, patterns))
        except OSError as exc:
            problems.append((folder.path, exc.strerror or str(exc)))
            continue
        for path in drops:
            try:
                fingerprint, _ = fingerprint_of(path)
            except OSError:
                continue  # vanished between the listing and now
            with index.read():
                needed = needs_ingest(index, path, fingerprint)
            if needed:
                wanted.append(path)
    return wanted, problems
