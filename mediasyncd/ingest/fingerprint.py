"""What identifies one version of a drop: its fingerprint.

A file's is its stat (size, mtime, inode, device); a folder's is a digest of its listing
(every entry's relative name, size, mtime and inode, in walk order). The settler waits
for it to be still, the worker and the ingest compare it before and after reading, and
after_ingest moves or deletes a drop only while it is unchanged. Decided at lstat: a
symlink, FIFO, socket or device raises RefusedPath (see fsguard).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from mediasyncd.config import MAX_FOLDER_DEPTH
from mediasyncd.fs.guard import check
from mediasyncd.fs.tree import Entry, TreeWalk
from mediasyncd.store.digest import new_hasher


def fingerprint_of(path: Path) -> tuple[str, os.stat_result]:
    """What identifies this version of a drop: stat for a file, a listing digest for a
    folder. Decided at lstat: a symlink, FIFO, socket or device raises RefusedPath."""
    st = check(path)
    if not stat.S_ISDIR(st.st_mode):
        return f"file:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}", st
    hasher = new_hasher()
    for entry in _listed(path):
        hasher.update(_listing_line(entry))
    return f"dir:{hasher.hexdigest()}", st


def folder_listing(path: Path) -> tuple[str, list[Entry]]:
    """A folder drop's fingerprint and the entries it was computed from (what a delete
    after the ingest may remove)."""
    hasher = new_hasher()
    entries = []
    for entry in _listed(path):
        hasher.update(_listing_line(entry))
        entries.append(entry)
    return f"dir:{hasher.hexdigest()}", entries


def _listed(path: Path) -> Iterator[Entry]:
    # Always to the largest depth a config may allow, so the settler, the worker and the
    # ingest agree on a folder's fingerprint whatever their limits.
    for level in TreeWalk(path, MAX_FOLDER_DEPTH):
        yield from level.files


def _listing_line(entry: Entry) -> bytes:
    st = entry.st
    line = f"{entry.rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n"
    return line.encode("utf-8", "surrogateescape")
