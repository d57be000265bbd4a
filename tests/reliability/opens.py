"""Seeing whether any process opened a folder: a raw inotify watch for IN_OPEN.

Listing a folder (os.walk, scandir, rglob) opens it, so a folder that raised no IN_OPEN
was never walked. Used to prove that a symlink to a folder is refused at lstat, before
anything looks behind it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

_IN_OPEN = 0x00000020
_IN_NONBLOCK = os.O_NONBLOCK
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


class OpenWatch:
    """Counts opens of one folder (and of the files right inside it) from now on."""

    def __init__(self, folder: Path):
        self.fd = _libc.inotify_init1(_IN_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if _libc.inotify_add_watch(self.fd, os.fsencode(folder), _IN_OPEN) < 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), f"cannot watch {folder}")

    def opened(self) -> bool:
        try:
            return bool(os.read(self.fd, 65536))
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self.fd)
