"""`watch.after_ingest`: moving or deleting a drop, and only what the ingest read.

A drop can change while it is ingested: a file replaced by a newer download, a folder
that grows while it is walked. Deleting it whole afterwards lost what was never read. So:
- the drop is moved or deleted only when its fingerprint now equals the one its ingest
  read (`DropChanged` otherwise: it stays, and is read again);
- a folder is not removed with `rmtree`: each regular file the listing holds is removed
  only if it is still that file (device, inode, size, mtime), and only down to the depth
  the ingest reads; whatever else is there (a file that appeared after the listing, a
  link, a FIFO, a folder too deep) stays, and so do the folders holding it;
- the done folder must not resolve into the state dir (a planted `done -> <state>/objects`
  would move drops into the store under object names) or onto the drop folder itself,
  and the move goes into the very folder that was checked (an open descriptor).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from mediasyncd.errors import MediasyncdError
from mediasyncd.fs.guard import RefusedPath, check
from mediasyncd.fs.tree import Entry, TreeWalk
from mediasyncd.ingest.fingerprint import fingerprint_of, folder_listing

# What lives in the state dir besides drop folders a user may have put there.
_STATE_AREAS = ("objects", "quarantine", "tmp", "locks")


_CHANGED = "it changed after it was read; it is read again"


class DropChanged(MediasyncdError):
    """The drop is not the version its ingest read."""


def _unchanged(path: Path, read: str | None) -> None:
    now, _ = fingerprint_of(path)
    if read is None or now != read:
        raise DropChanged(_CHANGED)


def remove_what_was_read(path: Path, read: str | None, max_depth: int) -> int:
    """Delete the drop if it is still the version read; returns how many entries of a
    folder were left because they were not read."""
    st = check(path)
    if not stat.S_ISDIR(st.st_mode):
        _unchanged(path, read)
        path.unlink()
        return 0
    fingerprint, entries = folder_listing(path)
    if read is None or fingerprint != read:
        raise DropChanged(_CHANGED)
    walk = TreeWalk(path, max_depth)
    readable = {e.rel for level in walk for e in level.files}
    kept = 0
    for entry in entries:
        if entry.rel not in readable or not _remove_if_same(entry):
            kept += 1
    _remove_empty_folders(path)
    return kept


def _remove_if_same(entry: Entry) -> bool:
    if not stat.S_ISREG(entry.st.st_mode):
        return False
    try:
        now = os.lstat(entry.path)
    except FileNotFoundError:
        return True
    same = (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) == (
        entry.st.st_dev,
        entry.st.st_ino,
        entry.st.st_size,
        entry.st.st_mtime_ns,
    )
    if same and stat.S_ISREG(now.st_mode):
        entry.path.unlink()
        return True
    return False


def _remove_empty_folders(root: Path) -> None:
    """rmdir every folder of `root` that is empty now, deepest first, then `root`."""
    folders = [level.path for level in TreeWalk(root, 1 << 30)]
    for folder in reversed(folders):
        with contextlib.suppress(OSError):  # not empty: something in it was not read
            folder.rmdir()


def move_what_was_read(
    path: Path, read: str | None, done: Path, drop_folder: Path, state_dir: Path
) -> Path:
    """Move the drop into `done` if it is still the version read; returns its new path."""
    real = _checked_done_folder(done, drop_folder, state_dir)
    real.mkdir(parents=True, exist_ok=True)
    expected = real.stat()
    fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (expected.st_dev, expected.st_ino):
            raise RefusedPath(done, "done folder was replaced while it was used; not moved")
        check(path)
        _unchanged(path, read)
        name = _free_name(fd, path.name)
        try:
            os.rename(path, name, dst_dir_fd=fd)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another filesystem: copy, then delete.
            shutil.move(str(path), str(real / name))
    finally:
        os.close(fd)
    return done / name


def _checked_done_folder(done: Path, drop_folder: Path, state_dir: Path) -> Path:
    real = Path(os.path.realpath(done))
    state = Path(os.path.realpath(state_dir))
    drop_real = Path(os.path.realpath(drop_folder))
    if real == drop_real:
        raise RefusedPath(done, "done folder resolves to the drop folder itself; not moved")
    in_store = real == state or any(real.is_relative_to(state / area) for area in _STATE_AREAS)
    if in_store or (real.is_relative_to(state) and not real.is_relative_to(drop_real)):
        raise RefusedPath(
            done, f"done folder resolves into the state dir ({real}); not moved there"
        )
    return real


def _free_name(folder_fd: int, name: str) -> str:
    candidate = name
    n = 1
    while _exists(folder_fd, candidate):
        n += 1
        candidate = f"{Path(name).stem} ({n}){Path(name).suffix}"
    return candidate


def _exists(folder_fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=folder_fd)
    except FileNotFoundError:
        return False
    return True
