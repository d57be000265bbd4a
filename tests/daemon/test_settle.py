"""Settling on real files with a hand-driven clock: quiet time, temp names, open writers,
incomplete zips, folders still being written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mediasyncd.daemon.settle import (
    Settler,
    in_progress_member,
    is_ignored,
    open_writers,
    zip_problem,
)
from tests.daemon.support import wait_until
from tests.helpers import make_zip, media_bytes

IGNORE = ["*.part", "*.crdownload", "*.tmp", ".syncthing.*", "~$*", ".*"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def settler(clock: Clock, incomplete_zip_seconds: float = 300.0) -> Settler:
    # check_interval=0: every poll looks at every candidate, so the test drives time alone.
    return Settler(
        2.0, IGNORE, clock=clock, incomplete_zip_seconds=incomplete_zip_seconds, check_interval=0
    )


def test_temp_names_are_ignored() -> None:
    """Partial downloads, sync temp files, Office locks and dotfiles are not drops."""
    for name in ["a.zip.part", "b.crdownload", "c.tmp", ".syncthing.x.tmp", "~$doc.docx", ".x"]:
        assert is_ignored(name, IGNORE), name
    for name in ["export.zip", "photo.jpg", "part", "tmp"]:
        assert not is_ignored(name, IGNORE), name


def test_file_settles_after_quiet_time(tmp_path: Path) -> None:
    """A file is passed on only once unchanged for settle_seconds; a change restarts it."""
    clock = Clock()
    s = settler(clock)
    drop = tmp_path / "photo.jpg"
    drop.write_bytes(b"x" * 10)
    s.touch(drop)
    assert s.poll() == []  # first look records the fingerprint
    clock.advance(1.5)
    assert s.poll() == []
    with open(drop, "ab") as handle:
        handle.write(b"more")
    clock.advance(1.0)
    assert s.poll() == []  # changed: quiet time starts again
    clock.advance(1.5)
    assert s.poll() == []
    clock.advance(0.6)
    settled = s.poll()
    assert [x.path for x in settled] == [drop]
    assert settled[0].fingerprint.startswith("file:14:")
    assert len(s) == 0


def test_touch_restarts_quiet_time(tmp_path: Path) -> None:
    """An event on the drop (even with no visible change yet) restarts the quiet time."""
    clock = Clock()
    s = settler(clock)
    drop = tmp_path / "a.bin"
    drop.write_bytes(b"1")
    s.touch(drop)
    s.poll()
    clock.advance(1.9)
    s.touch(drop)
    clock.advance(1.9)
    assert s.poll() == []
    clock.advance(0.2)
    assert [x.path for x in s.poll()] == [drop]


def test_reconcile_touch_does_not_restart_quiet_time(tmp_path: Path) -> None:
    """A periodic scan finding a drop that is already settling does not reset its quiet
    time (else a scan more frequent than the quiet time would hold it back forever)."""
    clock = Clock()
    s = settler(clock)
    drop = tmp_path / "a.bin"
    drop.write_bytes(b"1")
    s.touch(drop, changed=False)
    s.poll()
    clock.advance(1.5)
    s.touch(drop, changed=False)
    clock.advance(0.6)
    assert [x.path for x in s.poll()] == [drop]


def test_ignored_touch_is_not_tracked(tmp_path: Path) -> None:
    """A temp name never enters the settler; its renamed file does."""
    s = settler(Clock())
    part = tmp_path / "export.zip.part"
    part.write_bytes(b"x")
    s.touch(part)
    assert len(s) == 0


def test_vanished_drop_is_forgotten(tmp_path: Path) -> None:
    """A drop moved away before it settled is dropped silently."""
    clock = Clock()
    s = settler(clock)
    drop = tmp_path / "a.bin"
    drop.write_bytes(b"1")
    s.touch(drop)
    drop.unlink()
    assert s.poll() == []
    assert len(s) == 0


def test_incomplete_zip_waits_then_is_passed_on(tmp_path: Path) -> None:
    """A zip without its central directory waits; after incomplete_zip_seconds of no
    change it is passed on anyway, so the ingest reports it instead of waiting forever."""
    whole = make_zip(tmp_path / "whole.zip", {"a.png": media_bytes(5000, 1)})
    truncated = tmp_path / "export.zip"
    truncated.write_bytes(whole.read_bytes()[:-30])
    assert zip_problem(truncated) is not None
    assert zip_problem(whole) is None
    clock = Clock()
    s = settler(clock, incomplete_zip_seconds=30.0)
    s.touch(truncated)
    s.poll()
    clock.advance(3)
    assert s.poll() == []
    clock.advance(10)
    assert s.poll() == []
    # The rest of the file arrives: settles normally after the quiet time.
    truncated.write_bytes(whole.read_bytes())
    clock.advance(0.1)
    assert s.poll() == []
    clock.advance(2.5)
    assert [x.path for x in s.poll()] == [truncated]
    # A zip that never completes goes through after incomplete_zip_seconds.
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    s.touch(broken)
    s.poll()
    clock.advance(29)
    assert s.poll() == []
    clock.advance(2)
    assert [x.path for x in s.poll()] == [broken]


def test_writer_holding_file_open_blocks_settling(tmp_path: Path) -> None:
    """A file another process holds open for writing is not complete, however quiet."""
    drop = tmp_path / "video.bin"
    drop.write_bytes(b"x" * 100)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; f = open(sys.argv[1], 'ab'); sys.stdin.read()", drop],
        stdin=subprocess.PIPE,
    )
    try:
        wait_until(lambda: drop in open_writers([drop]), what="the child to open the file")
        assert open_writers([drop]) == {drop: holder.pid}
        clock = Clock()
        s = settler(clock)
        s.touch(drop)
        s.poll()
        clock.advance(5)
        assert s.poll() == []
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    assert open_writers([drop]) == {}
    clock.advance(0.5)
    assert [x.path for x in s.poll()] == [drop]


def test_readers_do_not_count_as_writers(tmp_path: Path) -> None:
    """A file open for reading only (our own ingest) does not hold settling back."""
    drop = tmp_path / "a.bin"
    drop.write_bytes(b"x")
    with open(drop, "rb"):
        assert open_writers([drop]) == {}
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    inner = folder / "sub" / "b.bin"
    with open(inner, "wb"):
        assert open_writers([folder]) == {folder: os.getpid()}


def test_folder_with_in_progress_member_waits(tmp_path: Path) -> None:
    """A folder drop holding `*.part` is still being written; a .DS_Store is not a sign."""
    folder = tmp_path / "export"
    (folder / "images").mkdir(parents=True)
    (folder / ".DS_Store").write_bytes(b"x")
    (folder / "images" / "a.png.part").write_bytes(b"x")
    assert in_progress_member(folder, IGNORE) == folder / "images" / "a.png.part"
    clock = Clock()
    s = settler(clock)
    s.touch(folder)
    s.poll()
    clock.advance(3)
    assert s.poll() == []
    (folder / "images" / "a.png.part").rename(folder / "images" / "a.png")
    assert in_progress_member(folder, IGNORE) is None
    clock.advance(0.5)
    assert s.poll() == []  # the rename changed the listing: quiet time again
    clock.advance(2.5)
    assert [x.path for x in s.poll()] == [folder]


def test_defer_holds_a_retry_back(tmp_path: Path) -> None:
    """A deferred drop is not passed on before its backoff, even when quiet."""
    clock = Clock()
    s = settler(clock)
    drop = tmp_path / "a.bin"
    drop.write_bytes(b"1")
    s.defer(drop, 10)
    s.poll()
    clock.advance(5)
    assert s.poll() == []
    clock.advance(6)
    assert [x.path for x in s.poll()] == [drop]


def test_open_writers_without_proc(tmp_path: Path) -> None:
    """Where /proc cannot be read, the check finds nothing (the quiet time still holds)."""
    assert open_writers([tmp_path], proc=tmp_path / "no-proc") == {}


def test_check_interval_follows_settle_time() -> None:
    """Candidates are looked at about three times per quiet time, at most once a second."""
    assert Settler(10.0, IGNORE).check_interval == 1.0
    assert Settler(0.3, IGNORE).check_interval == pytest.approx(0.1)
