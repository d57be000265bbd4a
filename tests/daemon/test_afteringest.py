"""after_ingest: only the version that was read is deleted or moved, never into the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mediasyncd.daemon.afteringest import DropChanged, move_what_was_read, remove_what_was_read
from mediasyncd.fs.guard import RefusedPath
from mediasyncd.ingest.fingerprint import fingerprint_of
from tests.helpers import write_files


def test_a_changed_file_is_not_deleted(tmp_path: Path) -> None:
    drop = tmp_path / "a.png"
    drop.write_bytes(b"read")
    read, _ = fingerprint_of(drop)
    drop.write_bytes(b"newer, never read")
    with pytest.raises(DropChanged):
        remove_what_was_read(drop, read, 64)
    assert drop.exists()
    remove_what_was_read(drop, fingerprint_of(drop)[0], 64)
    assert not drop.exists()


def test_a_folder_loses_only_the_files_that_were_read(tmp_path: Path) -> None:
    """Files in the listing go; a link (never read) and a folder deeper than the ingest
    reads stay, and so do the folders that hold them."""
    folder = write_files(tmp_path / "f", {"a.png": b"a", "x/b.png": b"b", "x/y/z/deep.png": b"d"})
    (folder / "x" / "link").symlink_to(tmp_path)
    read, _ = fingerprint_of(folder)
    kept = remove_what_was_read(folder, read, max_depth=2)
    assert kept == 2
    remaining = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert remaining == ["x", "x/link", "x/y", "x/y/z", "x/y/z/deep.png"]


def test_a_folder_read_whole_is_removed_whole(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "f", {"a.png": b"a", "x/y/b.png": b"b"})
    (folder / "empty").mkdir()
    assert remove_what_was_read(folder, fingerprint_of(folder)[0], 64) == 0
    assert not folder.exists()


def test_done_folder_into_the_state_dir_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "objects" / "ab").mkdir(parents=True)
    drop_folder = tmp_path / "drop"
    drop = write_files(drop_folder, {"cd0123.png": b"planted"}) / "cd0123.png"
    read, _ = fingerprint_of(drop)
    (drop_folder / "done").symlink_to(state / "objects" / "ab")
    with pytest.raises(RefusedPath, match="state dir"):
        move_what_was_read(drop, read, drop_folder / "done", drop_folder, state)
    with pytest.raises(RefusedPath, match="drop folder itself"):
        move_what_was_read(drop, read, drop_folder / ".", drop_folder, state)
    assert drop.exists() and os.listdir(state / "objects" / "ab") == []


def test_done_folder_inside_a_drop_folder_in_the_state_dir_is_fine(tmp_path: Path) -> None:
    """The default drop folder is <state>/drop; its done folder lives there too."""
    state = tmp_path / "state"
    drop_folder = state / "drop"
    drop = write_files(drop_folder, {"a.png": b"a"}) / "a.png"
    moved = move_what_was_read(
        drop, fingerprint_of(drop)[0], drop_folder / "done", drop_folder, state
    )
    assert moved == drop_folder / "done" / "a.png" and moved.read_bytes() == b"a"
