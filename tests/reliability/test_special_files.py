"""Threats 5 and 8 of issue 11: FIFOs, sockets, devices and symlinks to folders.

5. `mkfifo drop/export.zip` used to block the daemon's main thread forever (later drops
   ignored, heartbeat frozen, SIGTERM ignored), and `mediasyncd ingest FIFO` hung.
8. `ln -s / drop/root`: the settler and the probe walked the target before the walker
   refused it. Both are refused at lstat, at once, with a logged reason.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon.support import DaemonProcess, wait_until
from tests.helpers import media_bytes, run_mediasyncd, write_files
from tests.reliability.opens import OpenWatch

MakeDaemon = Callable[..., DaemonProcess]


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[tuple[Path, OpenWatch]]:
    """A folder outside the drop folder, and a watch that says whether anyone opened it."""
    folder = write_files(tmp_path / "outside", {f"sub/{i}.png": b"x" * 100 for i in range(3)})
    watch = OpenWatch(folder)
    yield folder, watch
    watch.close()


def _refusals(daemon: DaemonProcess, path: Path) -> list[str]:
    return [str(e["reason"]) for e in daemon.events("drop.refused") if e["source"] == str(path)]


def test_fifo_in_the_drop_folder_blocks_nothing(make_daemon: MakeDaemon, drop: Path) -> None:
    """A FIFO named like an export is refused with a logged reason; a later drop is
    ingested and SIGTERM still stops the daemon (exit 0)."""
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    fifo = drop / "export.zip"
    os.mkfifo(fifo)
    later = drop / "later.png"
    later.write_bytes(media_bytes(3000, "after the fifo"))
    wait_until(lambda: daemon.state_of(later) == "ok", what="the drop after the FIFO")
    assert "FIFO" in _refusals(daemon, fifo)[0]
    assert daemon.jobs_for(fifo) == []
    assert daemon.stop(timeout=20) == 0


def test_socket_and_fifo_at_start_are_refused(make_daemon: MakeDaemon, drop: Path) -> None:
    """Special files already there when the daemon starts are skipped by the start-up
    scan with a reason in the log; the daemon serves the regular drop beside them."""
    os.mkfifo(drop / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(drop / "sock"))
    try:
        regular = drop / "photo.png"
        regular.write_bytes(media_bytes(2000, "beside specials"))
        daemon = make_daemon()
        daemon.start()
        wait_until(lambda: daemon.state_of(regular) == "ok", what="the regular drop")
        assert _refusals(daemon, drop / "pipe") and _refusals(daemon, drop / "sock")
        assert daemon.stop(timeout=20) == 0
    finally:
        server.close()


def test_cli_ingest_of_special_files_fails_fast_and_names_them(
    tmp_path: Path, run_cli_child: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """`mediasyncd ingest FIFO SOCKET /dev/null FOLDER`: each special file fails with its
    kind named (a FIFO named like a trace export used to hang the probe), a FIFO inside
    the folder is skipped with a reason and makes the folder partial, the rest lands."""
    fifo = tmp_path / "traces.json"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    folder = write_files(tmp_path / "folder", {"a.png": media_bytes(1000, "in folder")})
    os.mkfifo(folder / "pipe.png")
    try:
        done = run_cli_child("ingest", "--json", fifo, tmp_path / "sock", "/dev/null", folder)
    finally:
        server.close()
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    states = {s["path"]: s["state"] for s in summary["sources"]}
    assert states == {
        str(fifo): "failed",
        str(tmp_path / "sock"): "failed",
        "/dev/null": "failed",
        str(folder): "partial",
    }
    errors = {(f["source"], f["member"]): f["error"] for f in summary["failures"]}
    assert "FIFO" in errors[(str(fifo), None)]
    assert "socket" in errors[(str(tmp_path / "sock"), None)]
    assert "device" in errors[("/dev/null", None)]
    assert "FIFO" in errors[(str(folder), "pipe.png")]
    assert "Traceback" not in done.stderr


def test_symlink_to_a_folder_is_refused_without_looking_behind_it(
    make_daemon: MakeDaemon, drop: Path, outside: tuple[Path, OpenWatch]
) -> None:
    """`drop/root -> a folder`: the daemon refuses it at lstat and never opens the folder
    (no settling walk, no probe, no job); a later drop is served as usual."""
    folder, watch = outside
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    root = drop / "root"
    root.symlink_to(folder)
    later = drop / "later.png"
    later.write_bytes(media_bytes(3000, "after the link"))
    wait_until(lambda: daemon.state_of(later) == "ok", what="the drop after the link")
    assert "symbolic link" in _refusals(daemon, root)[0]
    assert daemon.jobs_for(root) == []
    assert not watch.opened(), "something walked the folder behind the symlink"
    assert daemon.stop() == 0


def test_cli_ingest_of_a_symlink_to_a_folder_is_refused_at_once(
    tmp_path: Path,
    outside: tuple[Path, OpenWatch],
    run_cli_child: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """`mediasyncd ingest LINK` where LINK points at a folder: failed, the link named, the
    folder behind it never opened."""
    folder, watch = outside
    link = tmp_path / "root"
    link.symlink_to(folder)
    done = run_cli_child("ingest", "--json", link)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["sources"] == [
        {
            "path": str(link),
            "kind": None,
            "state": "failed",
            "problems": [{"member": None, "error": "is a symbolic link; not followed"}],
            "notes": [],
        }
    ]
    assert "symbolic link" in summary["failures"][0]["error"]
    assert not watch.opened(), "the folder behind the link was walked"


@pytest.fixture
def run_cli_child(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The real CLI in a child process on this test's state dir; a hang fails the test."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        argv = ["--state-dir", str(tmp_path / "state"), *(str(a) for a in args)]
        try:
            return run_mediasyncd(argv, timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"`mediasyncd {' '.join(argv)}` hung: {exc}") from None

    return run
