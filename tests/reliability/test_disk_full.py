"""A full disk during ingest (docs/reliability.md, scenario 8), on a real small filesystem.

The state dir is a tmpfs of a few megabytes mounted for the test (root and a working
`mount` are needed; otherwise the tests skip and say why). Each case: the ingest stops
with a clean error (no traceback, the drop left pending), no partial object is visible
under a real name, and once space returns (remounted bigger, or a filler file deleted)
the same drop lands and the result equals an ingest that never ran out of space. The
daemon case shows the same while it keeps running: the drop waits and lands by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import Ingester
from tests.daemon.support import DaemonProcess, wait_until
from tests.helpers import (
    assert_store_consistent,
    content_objects,
    index_state,
    make_zip,
    media_bytes,
    run_mediasyncd,
    write_files,
)

BIG = {f"photos/{i}.png": media_bytes(1_500_000, f"full-{i}") for i in range(8)}  # 12 MB
SMALL = {"first/one.jpg": media_bytes(20_000, "first", "jpeg")}


def _can_mount() -> str | None:
    """None when tmpfs mounts work here, else why not."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs as the state dir needs root"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "no mount/umount binaries"
    probe = Path(f"/tmp/mediasyncd-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return f"mount is not permitted here: {done.stderr.strip()}"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    finally:
        probe.rmdir()


_WHY_NOT = _can_mount()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")


@pytest.fixture
def small_fs() -> Iterator[Callable[[Path, str], Path]]:
    """small_fs(path, size) mounts a tmpfs of `size` (e.g. "6m") at `path`; resize it with
    _remount; unmounted at teardown."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True
        )
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True)


def _remount(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def _fill(path: Path) -> Path:
    """A filler file that takes every free byte of the filesystem holding `path`."""
    filler = path / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            block = bytes(size)
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, block)
    finally:
        os.close(fd)
    return filler


def _reference(tmp_path: Path, drops: list[Path]) -> dict[str, Any]:
    app = App.load(state_dir=str(tmp_path / "reference"))
    try:
        Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths(drops)
        return {"objects": content_objects(app.store), "index": index_state(app.index, app.store)}
    finally:
        app.close()


def _assert_no_partial_object(state: Path) -> None:
    """Whatever is under a real object name is whole; temp files are the only leftovers
    allowed before the next start clears them."""
    app = App.load(state_dir=str(state))
    try:
        assert_store_consistent(app.index, app.store)
    finally:
        app.close()


@pytest.mark.parametrize("relief", ["remount-bigger", "delete-filler"])
def test_cli_ingest_on_a_full_disk_then_space_returns(
    tmp_path: Path, small_fs: Callable[[Path, str], Path], relief: str
) -> None:
    """Out of space mid-ingest: a clean error and a pending drop; with space back, the
    same command finishes and equals an ingest that had room all along."""
    drops = tmp_path / "drops"
    first = write_files(drops / "first", SMALL)
    big = make_zip(drops / "big.zip", BIG, compression=zipfile.ZIP_STORED)
    state = small_fs(tmp_path / "state", "6m" if relief == "remount-bigger" else "32m")
    assert run_mediasyncd(["--state-dir", str(state), "ingest", str(first)]).returncode == 0
    filler = _fill(state) if relief == "delete-filler" else None

    args = ["--state-dir", str(state), "ingest", "--json", str(first), str(big)]
    full = run_mediasyncd(args)
    assert full.returncode != 0
    assert "Traceback" not in full.stderr, full.stderr
    if full.stdout.strip():
        summary = json.loads(full.stdout)
        errors = " ".join(f["error"] for f in summary["failures"])
        assert "No space left" in errors or "disk is full" in errors, summary["failures"]
        assert {s["path"]: s["state"] for s in summary["sources"]}[str(big)] == "pending"
    else:  # the index itself could not be written: one clean line on stderr
        assert "space" in full.stderr or "full" in full.stderr, full.stderr
    if filler is not None:
        filler.unlink()
    else:
        _remount(state, "64m")
    _assert_no_partial_object(state)

    again = run_mediasyncd(args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["failures"] == []
    reference = _reference(tmp_path, [first, big])
    app = App.load(state_dir=str(state))
    try:
        assert_store_consistent(app.index, app.store)
        assert content_objects(app.store) == reference["objects"]
        assert index_state(app.index, app.store) == reference["index"]
    finally:
        app.close()


def test_daemon_on_a_full_disk_waits_and_lands_when_space_returns(
    make_daemon: Callable[..., DaemonProcess], drop: Path, small_fs: Callable[[Path, str], Path]
) -> None:
    """The daemon keeps running on a full disk: the drop stays pending and is retried,
    and lands by itself once the filesystem is made bigger."""
    daemon = make_daemon()
    small_fs(daemon.state_dir, "6m")
    daemon.start()
    daemon.wait_started()
    staged = make_zip(drop.parent / "staging" / "big.zip", BIG, compression=zipfile.ZIP_STORED)
    target = drop / "big.zip"
    os.rename(staged, target)
    wait_until(lambda: daemon.events("job.retry") or daemon.exited(), 60, what="a retry")
    assert not daemon.exited(), daemon.log.read_text()[-3000:]
    assert daemon.state_of(target) in (None, "pending")
    _remount(daemon.state_dir, "64m")
    wait_until(lambda: daemon.state_of(target) == "ok", 90, what="the drop after space returned")
    assert daemon.stop() == 0
    _assert_no_partial_object(daemon.state_dir)
