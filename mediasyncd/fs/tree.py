"""Walking a folder someone else controls: iteratively, never through a link, to a depth.

`os.walk` and `Path.rglob` recurse in Python 3.11, so a 1,200-level tree raised a
RecursionError in the daemon and the CLI; this walk keeps its own stack. Each folder is
opened with `O_NOFOLLOW | O_DIRECTORY` and must be the very folder its parent listed
(same device and inode), so a folder swapped for a symlink mid-walk is not followed.
Folders deeper than `max_depth` below the root are not listed: they are collected in
`too_deep` for the caller to report. Order: top-down, names sorted, as `os.walk` with
sorted lists gives, so fingerprints stay what they were.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mediasyncd.fs.guard import RefusedPath, refusal

_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    rel: str  # '/'-separated from the root (undecodable bytes as surrogates, like os)
    st: os.stat_result  # from lstat


@dataclass(frozen=True)
class Level:
    """One folder: the folders below it that are walked next, and every other entry
    (regular files, and what is not read: links, FIFOs, sockets, devices, the state dir)."""

    path: Path
    rel: str  # "" for the root
    depth: int
    folders: list[Entry]
    files: list[Entry]


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class TreeWalk:
    """Iterate `Level`s of `root` (a real folder, checked by the caller with lstat)."""

    def __init__(
        self,
        root: Path,
        max_depth: int,
        *,
        on_error: Callable[[str, OSError], None] | None = None,
    ):
        self.root = root
        self.max_depth = max_depth
        self.on_error = on_error
        self.too_deep: list[str] = []

    def __iter__(self) -> Iterator[Level]:
        root_st = os.lstat(self.root)
        stack: list[tuple[Path, str, int, tuple[int, int]]] = [
            (self.root, "", 0, _identity(root_st))
        ]
        while stack:
            path, rel, depth, identity = stack.pop()
            try:
                entries = self._list(path, identity)
            except OSError as exc:
                if self.on_error is not None:
                    self.on_error(rel, exc)
                continue
            folders: list[Entry] = []
            files: list[Entry] = []
            for name, st in entries:
                entry = Entry(name, path / name, f"{rel}/{name}" if rel else name, st)
                if stat.S_ISDIR(st.st_mode) and refusal(st) is None:
                    if depth + 1 > self.max_depth:
                        self.too_deep.append(entry.rel)
                    else:
                        folders.append(entry)
                else:
                    files.append(entry)
            yield Level(path, rel, depth, folders, files)
            for folder in reversed(folders):
                stack.append((folder.path, folder.rel, depth + 1, _identity(folder.st)))

    @staticmethod
    def _list(path: Path, identity: tuple[int, int]) -> list[tuple[str, os.stat_result]]:
        fd = os.open(path, _OPEN_FOLDER)
        try:
            if _identity(os.fstat(fd)) != identity:
                raise RefusedPath(path, "was replaced while it was read; not followed")
            with os.scandir(fd) as listing:
                found = [(entry.name, entry.stat(follow_symlinks=False)) for entry in listing]
        finally:
            os.close(fd)
        found.sort(key=lambda item: item[0])
        return found


def first_too_deep(root: Path, max_depth: int) -> str | None:
    """The first folder under `root` deeper than `max_depth` (relative), or None."""
    walk = TreeWalk(root, max_depth)
    for _level in walk:
        if walk.too_deep:
            return walk.too_deep[0]
    return None
