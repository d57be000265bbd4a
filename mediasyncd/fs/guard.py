"""Looking at and opening paths someone else controls: drops and everything inside them.

A drop folder is often group-writable, so whatever sits in it may be hostile:
- Every decision is made with `lstat`, never `stat`: a symbolic link is refused, never
  followed (a link to `/` would be walked for minutes, a link to the index opened).
- Only regular files are opened, with `O_NOFOLLOW | O_NONBLOCK` (a FIFO swapped in
  after the lstat cannot block the process), and `fstat` must then show the same file.
- The index database files are never opened through a drop path, whatever name reaches
  them (a link, a folder drop that holds the state dir): closing *any* descriptor of a
  SQLite database drops every POSIX lock this process holds on it (SQLite's documented
  pitfall), after which the next process to close the index deletes its live WAL and
  acknowledged ingests vanish. Their identities (device, inode) are registered when the
  index is opened; the state dir's own folder is registered too, so walks skip it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from pathlib import Path
from typing import BinaryIO

_lock = threading.Lock()
# Identity -> the path it was registered under: an entry whose path no longer has that
# identity (the file was deleted and its inode reused) protects nothing.
_protected_files: dict[tuple[int, int], Path] = {}
_protected_folders: dict[tuple[int, int], Path] = {}
# Descriptors of protected files that a race got us to open: never closed, because the
# close is what would drop SQLite's locks (see the module doc).
_kept_open: list[int] = []

OWN_INDEX = "is mediasyncd's own index database; not read"
OWN_STATE_DIR = "is mediasyncd's state dir; not read"


class RefusedPath(OSError):
    """A path that is not read: a symbolic link, a FIFO, socket or device, or the index.

    An OSError, so code that treats "cannot read" alike still does; `strerror` is the
    reason, worded to follow the path ("... is a FIFO; not read")."""

    def __init__(self, path: os.PathLike[str] | str, reason: str):
        super().__init__(errno.EPERM, reason, os.fspath(path))


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def protect_files(*paths: Path) -> None:
    """Never open these files (the index and its -wal and -shm) from a drop path."""
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        with _lock:
            _protected_files[_identity(st)] = path


def protect_folder(path: Path) -> None:
    """Never walk into this folder (the state dir) from a folder drop."""
    real = Path(os.path.realpath(path))
    try:
        st = os.lstat(real)
    except OSError:
        return
    with _lock:
        _protected_folders[_identity(st)] = real


def kind_of(mode: int) -> str:
    """What a file mode is, for messages ("a FIFO")."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def refusal(st: os.stat_result, *, folders: bool = True) -> str | None:
    """Why a path with this lstat result is not read, or None when it may be."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link; not followed"
    if stat.S_ISDIR(mode):
        if not folders:
            return "is a folder"
        return OWN_STATE_DIR if _still(_protected_folders, st) else None
    if not stat.S_ISREG(mode):
        return f"is {kind_of(mode)}; not read"
    if _is_protected(st):
        return OWN_INDEX
    return None


def _is_protected(st: os.stat_result) -> bool:
    return _still(_protected_files, st)


def _still(registry: dict[tuple[int, int], Path], st: os.stat_result) -> bool:
    """Whether `st` is a registered file or folder that is still where it was registered
    (a deleted one's inode may be reused by anything)."""
    identity = _identity(st)
    with _lock:
        registered = registry.get(identity)
    if registered is None:
        return False
    try:
        if _identity(os.lstat(registered)) == identity:
            return True
    except OSError:
        pass
    with _lock:
        registry.pop(identity, None)
    return False


def check(path: Path, *, folders: bool = True) -> os.stat_result:
    """lstat `path`; RefusedPath unless it is a regular file (or, with `folders`, a real
    folder). OSError as usual when it cannot be looked at (gone, no permission)."""
    st = os.lstat(path)
    reason = refusal(st, folders=folders)
    if reason is not None:
        raise RefusedPath(path, reason)
    return st


def open_file(path: Path, expect: os.stat_result | None = None) -> BinaryIO:
    """Open a regular file for reading without following a symlink or blocking on a FIFO.

    `expect` is the lstat result the caller decided on: the file opened must be that very
    file (same device and inode), so a swap between the look and the open is refused."""
    if expect is None:
        expect = check(path, folders=False)
    elif (reason := refusal(expect, folders=False)) is not None:
        raise RefusedPath(path, reason)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedPath(path, "is a symbolic link; not followed") from exc
        raise
    st = os.fstat(fd)
    if _is_protected(st):
        with _lock:
            _kept_open.append(fd)
        raise RefusedPath(path, OWN_INDEX)
    if not stat.S_ISREG(st.st_mode) or _identity(st) != _identity(expect):
        os.close(fd)
        what = kind_of(st.st_mode) if not stat.S_ISREG(st.st_mode) else "another file"
        raise RefusedPath(path, f"was replaced by {what} while it was read; not read")
    # Regular files ignore O_NONBLOCK; cleared all the same so reads behave as usual.
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "rb")


def read_head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a regular file; b"" when it is refused or unreadable."""
    try:
        with open_file(path) as handle:
            return handle.read(size)
    except OSError:
        return b""
