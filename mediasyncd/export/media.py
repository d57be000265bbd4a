"""Putting stored objects into an export's `media/` folders, never sharing their damage.

How a file gets there (`export.media`, `--copy`, `--hardlink`):
- `clone` (the default): a reflink (`FICLONE`) where the filesystem has them (XFS,
  Btrfs, bcachefs, ...): no bytes copied and no space used, yet a file of its own, so
  damage to the store object later (a bad sector, a stray write) does not reach the
  export; elsewhere (ext4, another filesystem) a copy;
- `copy`: always a byte copy;
- `hardlink`: the store object itself under a second name. No space and no time, but
  the export then *is* the store: damage to an object shows in the export at once, and
  after `verify` quarantines it the export keeps the damaged inode until it is exported
  again. Only on request.
Either way a file is first created under a temporary name and renamed into place, so an
interrupted export never leaves a half-copied file under a real name.

A file already in place is kept only when it still comes from the same object: the
state records each file's digest and how many times that object had been repaired
(`blobs.repairs`: written again by a re-drop after `verify` quarantined it). A repaired
object's files are placed again by the next export, copies and hard links alike.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

from mediasyncd.errors import StoreError
from mediasyncd.export.model import MediaFile
from mediasyncd.store import Store

MediaMode = Literal["clone", "copy", "hardlink"]
TEMP_MARK: Final = ".mediasyncd-tmp"
# linux/fs.h: _IOW(0x94, 9, int), clone the whole file.
FICLONE: Final = 0x40049409
# link() errors that mean "cannot link here", not "something is broken".
_CANNOT_LINK: Final = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
)
# FICLONE errors that mean "no reflinks here" (ext4, tmpfs, another filesystem).
_CANNOT_CLONE: Final = frozenset(
    {errno.EXDEV, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOTTY, errno.EPERM}
)


@dataclass
class MediaStats:
    linked: int = 0
    cloned: int = 0
    copied: int = 0
    kept: int = 0
    bytes_copied: int = 0
    missing: int = 0
    removed: int = 0

    def add(self, other: MediaStats) -> None:
        self.linked += other.linked
        self.cloned += other.cloned
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
    store: Store,
    folder: Path,
    files: list[MediaFile],
    previous: Mapping[str, tuple[str, str]],
    *,
    mode: MediaMode = "clone",
) -> MediaStats:
    """Make `folder` hold exactly `files` under their names; `previous` is name ->
    (digest, origin) as the last export left it (a file's `origin` says which version of
    its object it comes from). Files whose object is missing are marked unavailable."""
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
        source = _source(store, media.digest)
        if source is None:
            media.available = False
            stats.missing += 1
            with contextlib.suppress(FileNotFoundError):
                _remove(target)
            continue
        try:
            existing = target.lstat()
        except FileNotFoundError:
            existing = None
        if existing is not None and _still_good(
            existing, source, previous.get(media.name), media, mode
        ):
            stats.kept += 1
            continue
        how = _put(store, media.digest, source, target, mode=mode)
        if how == "linked":
            stats.linked += 1
        elif how == "cloned":
            stats.cloned += 1
        else:
            stats.copied += 1
            stats.bytes_copied += source.size
    return stats


@dataclass(frozen=True)
class _Source:
    """An object to place: its local file when the store keeps one (hard link, reflink),
    else it is copied from the store's stream."""

    path: Path | None
    size: int
    # (inode, device) of the local file: a hard link to it shares the store's damage.
    identity: tuple[int, int] | None


def _source(store: Store, digest: str) -> _Source | None:
    """The object, or None when the store lacks it."""
    try:
        path = store.local_path(digest)
        if path is None:
            found = store.stat(digest)
            return None if found is None else _Source(None, found.size, None)
        st = path.stat()
    except (StoreError, FileNotFoundError):
        return None
    return _Source(path, st.st_size, (st.st_ino, st.st_dev))


def _still_good(
    existing: os.stat_result,
    source: _Source,
    previous: tuple[str, str] | None,
    media: MediaFile,
    mode: MediaMode,
) -> bool:
    """Whether the file in place may stay: for a hard link, it is the object's inode;
    otherwise it is a file of its own, made from this very object file."""
    shares_inode = (existing.st_ino, existing.st_dev) == source.identity
    if mode == "hardlink":
        return shares_inode
    return (
        not shares_inode  # a hard link left by an older export carries the store's damage
        and previous == (media.digest, media.origin)
        and existing.st_size == source.size
        and not stat.S_ISLNK(existing.st_mode)
    )


def _put(store: Store, digest: str, source: _Source, target: Path, *, mode: MediaMode) -> str:
    """Link, clone or copy the object to `target` through a temp name; returns which."""
    temp = temp_name(target)
    try:
        if mode == "hardlink" and source.path is not None:
            try:
                os.link(source.path, temp)
            except OSError as exc:
                if exc.errno not in _CANNOT_LINK:
                    raise
            else:
                temp.replace(target)
                return "linked"
        # A file of its own, owner-writable so the user can tidy the export by hand.
        how = "copied"
        with _open_source(store, digest, source) as src, open(temp, "xb") as dst:
            if mode == "clone" and source.path is not None and _clone(src.fileno(), dst.fileno()):
                how = "cloned"
            else:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        temp.replace(target)
        return how
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _open_source(store: Store, digest: str, source: _Source) -> BinaryIO:
    if source.path is not None:
        return open(source.path, "rb")
    return store.open(digest)


def _clone(source_fd: int, target_fd: int) -> bool:
    """Reflink the whole file; False where the filesystem cannot."""
    try:
        fcntl.ioctl(target_fd, FICLONE, source_fd)
    except OSError as exc:
        if exc.errno in _CANNOT_CLONE:
            return False
        raise
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
