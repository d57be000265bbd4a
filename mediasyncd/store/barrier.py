"""Durability per batch: objects written without a flush each, then made durable together.

Two fsyncs per object (the file, then its shard folder) were the wall of a chat-heavy
ingest: 15,000 small objects paid about 7 s for them where `unzip` + `sync` pays for one
sync. Inside a batch the store writes and links objects without flushing, remembers what
it touched, and `sync()` is the barrier before the index transaction that names them:
one `syncfs(2)` of the store's filesystem (Linux; `os` has no wrapper, so ctypes), or,
where there is none, an fsync of each file and each touched folder of the batch.

Why this is safe is the index's rule, not the barrier's: an object file the index does
not name is never trusted (it is re-hashed before a hit counts), so an object lost or torn
by a power cut before the barrier is only a file to replace, and the index never names an
object before its batch's barrier returned.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_UNKNOWN: object = object()
_syncfs: object = _UNKNOWN


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs, or None where there is none (not Linux, no glibc symbol)."""
    global _syncfs
    if _syncfs is _UNKNOWN:
        import ctypes

        try:
            function = ctypes.CDLL(None, use_errno=True).syncfs
        except (OSError, AttributeError):
            _syncfs = None
        else:
            function.argtypes = [ctypes.c_int]
            function.restype = ctypes.c_int
            _syncfs = function
    return _syncfs  # type: ignore[return-value]


def syncfs(folder: Path) -> bool:
    """Flush the whole filesystem `folder` lives on; False when the system has no
    syncfs (the caller falls back to fsyncing files). A failed flush raises OSError: the
    batch is not durable and the index must not name it."""
    function = _load_syncfs()
    if function is None:
        return False
    import ctypes

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if function(fd) == 0:
            return True
        errno = ctypes.get_errno()
    finally:
        os.close(fd)
    if errno == 38:  # ENOSYS: a kernel without it (seccomp, emulation)
        return False
    raise OSError(errno, f"syncfs: {os.strerror(errno)}", str(folder))


def fsync_path(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Batch:
    """What one batch wrote (or found genuine without a name) and not yet flushed."""

    files: list[Path] = field(default_factory=list)
    folders: set[Path] = field(default_factory=set)
    digests: set[str] = field(default_factory=set)

    def add(self, digest: str, path: Path, *folders: Path) -> None:
        self.digests.add(digest)
        self.files.append(path)
        self.folders.update(folders)

    def sync(self, root: Path) -> int:
        """Make the batch durable; returns how many flush calls it took (1 with syncfs)."""
        if not self.files:
            return 0
        if syncfs(root):
            calls = 1
        else:
            for path in self.files:
                fsync_path(path)
            for folder in sorted(self.folders):
                fsync_path(folder, directory=True)
            calls = len(self.files) + len(self.folders)
        self.files.clear()
        self.folders.clear()
        self.digests.clear()
        return calls
