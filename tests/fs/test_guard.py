"""Looking at drop paths: refusals at lstat, opens that never follow or block."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from mediasyncd.fs import guard as fsguard
from mediasyncd.fs.guard import RefusedPath, check, open_file, protect_files, protect_folder


def test_refusals_name_the_kind(tmp_path: Path) -> None:
    real = tmp_path / "real.png"
    real.write_bytes(b"x")
    (tmp_path / "link").symlink_to(real)
    os.mkfifo(tmp_path / "fifo")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        reasons = {}
        for name in ("link", "fifo", "sock"):
            with pytest.raises(RefusedPath) as caught:
                check(tmp_path / name)
            reasons[name] = caught.value.strerror
    finally:
        server.close()
    with pytest.raises(RefusedPath) as device:
        check(Path("/dev/null"))
    assert reasons == {
        "link": "is a symbolic link; not followed",
        "fifo": "is a FIFO; not read",
        "sock": "is a socket; not read",
    }
    assert device.value.strerror == "is a character device; not read"
    assert check(real).st_size == 1
    assert check(tmp_path).st_mode  # folders are fine unless told otherwise
    with pytest.raises(RefusedPath):
        check(tmp_path, folders=False)


def test_open_file_refuses_a_swap_without_blocking(tmp_path: Path) -> None:
    """lstat saw a regular file; a FIFO took its place before the open: refused at once
    (O_NONBLOCK), not a read that waits for a writer forever."""
    path = tmp_path / "export.zip"
    path.write_bytes(b"PK")
    seen = os.lstat(path)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(RefusedPath, match="replaced by a FIFO"):
        open_file(path, seen)
    path.unlink()
    path.symlink_to(tmp_path)
    with pytest.raises(RefusedPath, match="symbolic link"):
        open_file(path, seen)


def test_protected_files_are_never_opened_and_forgotten_once_gone(tmp_path: Path) -> None:
    index = tmp_path / "index.db"
    index.write_bytes(b"SQLite format 3\0")
    protect_files(index)
    hard = tmp_path / "drop.zip"
    os.link(index, hard)  # a second name for the same file
    with pytest.raises(RefusedPath, match="own index"):
        check(hard)
    with pytest.raises(RefusedPath, match="own index"):
        open_file(hard, os.lstat(hard))
    index.unlink()  # gone: its identity protects nothing any more
    assert check(hard).st_nlink == 1
    while fsguard._kept_open:  # the descriptor kept open above belongs to this test
        os.close(fsguard._kept_open.pop())


def test_the_state_dir_is_refused_as_a_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    protect_folder(state)
    with pytest.raises(RefusedPath, match="state dir"):
        check(state)
