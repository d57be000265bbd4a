"""Putting stored objects into an export's `media/` folders.

A file is hard-linked from the store when the export is on the same filesystem (no
bytes copied, no space used; objects are read-only 0444 and the link shares that mode,
which is what an archive wants) and copied otherwise. Either way it is first created
under a temporary name and renamed into place, so an interrupted export never leaves a
half-copied file under a real name. A file already in place is kept when it is the same
object (same inode) or, for a copy, when the last export recorded that name for that digest
with the same size.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mediasyncd.errors import StoreError
from mediasyncd.export.model import MediaFile
from mediasyncd.store import ObjectStore

TEMP_MARK: Final = ".mediasyncd-tmp"
# link() errors that mean "cannot link here", not "something is broken".
_CANNOT_LINK: Final = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
)


@dataclass
class MediaStats:
    linked: int = 0
    copied: int = 0
    kept: int = 0
    bytes_copied: int = 0
    missing: int = 0
    removed: int = 0

    def add(self, other: MediaStats) -> None:
        self.linked += other.linked
        self.copied += other.copied
        self.kept += other.kept
        self.bytes_copied += other.bytes_copied
        self.missing += other.missing
        self.removed += other.removed


def temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name[:80]}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_MARK}")


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_MARK)


def ensure_real_dir(path: Path) -> None:
    """`path` as a real folder: a symlink or file in its place is removed first, so that
    nothing written 'inside' it can land outside the export."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(exist_ok=True)


def place_media(
    store: ObjectStore,
    folder: Path,
    files: list[MediaFile],
    previous: Mapping[str, str],
    *,
    allow_links: bool = True,
) -> MediaStats:
    """Make `folder` hold exactly `files` under their names; `previous` is name -> digest
    as the last export left it. Files whose object is missing are marked unavailable."""
    stats = MediaStats()
    wanted = {media.name for media in files}
    if files:
        ensure_real_dir(folder)
    elif folder.is_symlink() or folder.is_file():
        folder.unlink()
    if folder.is_dir():
        for entry in os.scandir(folder):
            if entry.name not in wanted or is_temp_name(entry.name):
                _remove(Path(entry.path))
                stats.removed += 1
        if not files:
            with contextlib.suppress(OSError):
                folder.rmdir()
            return stats
    for media in files:
        target = folder / media.name
        try:
            source = store.path_of(media.digest)
            source_stat = source.stat()
        except (StoreError, FileNotFoundError):
            media.available = False
            stats.missing += 1
            with contextlib.suppress(FileNotFoundError):
                _remove(target)
            continue
        try:
            existing = target.lstat()
        except FileNotFoundError:
            existing = None
        if existing is not None:
            same_inode = (existing.st_ino, existing.st_dev) == (
                source_stat.st_ino,
                source_stat.st_dev,
            )
            same_copy = (
                previous.get(media.name) == media.digest
                and existing.st_size == source_stat.st_size
                and not target.is_symlink()
            )
            if same_inode or same_copy:
                stats.kept += 1
                continue
        linked = _put(source, target, allow_links=allow_links)
        if linked:
            stats.linked += 1
        else:
            stats.copied += 1
            stats.bytes_copied += source_stat.st_size
    return stats


def _put(source: Path, target: Path, *, allow_links: bool) -> bool:
    """Link (True) or copy (False) `source` to `target` through a temp name."""
    temp = temp_name(target)
    try:
        if allow_links:
            try:
                os.link(source, temp)
            except OSError as exc:
                if exc.errno not in _CANNOT_LINK:
                    raise
            else:
                temp.replace(target)
                return True
        # A copy: same bytes, owner-writable so the user can tidy the export by hand.
        with open(source, "rb") as src, open(temp, "xb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        temp.replace(target)
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
