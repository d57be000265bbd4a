"""Threat 6 of issue 11: a 1,200-level folder tree in the drop folder.

watchdog 7.1 walks a new folder with `os.walk`, which recurses in Python 3.11: a tree
deeper than the recursion limit killed its inotify thread with a RecursionError (the
daemon still said "watching 1/1" and ignored every later drop), made `observer.start()`
raise at every later start, and `mediasyncd ingest TREE` printed a traceback. Now folder
depth has a limit (`limits.max_folder_depth`): deeper parts are reported and skipped,
the folder holding such a tree is watched at its top level only, and watching goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon.support import DaemonProcess, wait_until
from tests.helpers import media_bytes, remove_tree, run_mediasyncd

MakeDaemon = Callable[..., DaemonProcess]
LEVELS = 1200


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    """pytest's cleanup cannot remove a tree this deep: each test removes its own."""
    yield
    remove_tree(tmp_path)
    tmp_path.mkdir()


def deep_tree(root: Path, levels: int = LEVELS) -> Path:
    """`root/d/d/.../d` `levels` deep with a photo at the top and one at the bottom; built
    level by level with directory descriptors (os.makedirs itself recurses)."""
    root.mkdir()
    (root / "top.png").write_bytes(media_bytes(1500, "top of the tree"))
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
        bottom = os.open("bottom.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(bottom, media_bytes(1500, "bottom of the tree"))
        os.close(bottom)
    finally:
        os.close(fd)
    return root


def test_deep_tree_moved_in_keeps_the_daemon_watching(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """A 1,200-level tree renamed into the watched folder: the daemon reports the deep
    part, ingests the rest of that drop (partial), and still sees a later drop by its
    event."""
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    tree = deep_tree(tmp_path / "tree")
    os.rename(tree, drop / "tree")
    later = drop / "later.png"
    later.write_bytes(media_bytes(2000, "after the deep tree"))
    wait_until(lambda: daemon.state_of(later) == "ok", what="the drop after the deep tree")
    # Partial: its shallow part is stored, the part past limits.max_folder_depth is not.
    wait_until(lambda: daemon.state_of(drop / "tree") == "partial", what="the tree's shallow part")
    assert not daemon.exited()
    assert "Traceback" not in daemon.log.read_text(errors="replace")
    assert daemon.stop() == 0


def test_daemon_starts_with_a_deep_tree_in_its_folder(make_daemon: MakeDaemon, drop: Path) -> None:
    """With the tree already in the folder, `run` starts (it used to crash in
    observer.start() at every start), says why the folder is watched at its top level,
    and serves drops."""
    deep_tree(drop / "tree")
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    reports = daemon.events("watch.too_deep")
    assert reports and str(drop) == reports[0]["folder"]
    later = drop / "later.png"
    later.write_bytes(media_bytes(2000, "served beside the tree"))
    wait_until(lambda: daemon.state_of(later) == "ok", what="a drop beside the deep tree")
    assert daemon.stop() == 0


def test_cli_ingest_of_a_deep_tree_reports_the_deep_part(tmp_path: Path) -> None:
    """`mediasyncd ingest TREE`: no traceback; the photo at the top is stored and the
    part below the depth limit is named as skipped, with the limit."""
    tree = deep_tree(tmp_path / "tree")
    done = run_mediasyncd(["--state-dir", str(tmp_path / "state"), "ingest", "--json", str(tree)])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["blobs_new"] >= 1
    (failure,) = summary["failures"]
    assert "limits.max_folder_depth" in failure["error"]
    assert failure["member"].startswith("d/d/")
