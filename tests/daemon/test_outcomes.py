"""The outcome contract in the real daemon (`mediasyncd run` in a child process): each
partial or failed drop is a warning or error event naming its problems, `status` shows
the last problem, a drop given up after repeated crashes is failed with its reason, and
an empty or non-zip `.zip` is judged as soon as it has settled (not after the
incomplete-zip timeout)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.daemon.support import DaemonProcess, wait_until
from tests.drops import conversations_json, cut_after, export_zip
from tests.helpers import media_bytes, write_files

MakeDaemon = Callable[..., DaemonProcess]


def _status(daemon: DaemonProcess) -> dict[str, Any]:
    return daemon.status()


def _status_text(daemon: DaemonProcess) -> str:
    done = daemon.cli("status")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _move_in(built: Path, drop: Path) -> Path:
    target = drop / built.name
    os.rename(built, target)  # renamed in: never seen half-written
    return target


def test_partial_and_failed_drops_are_logged_with_their_problems(
    tmp_path: Path, make_daemon: MakeDaemon, drop: Path
) -> None:
    """A cut conversations.json: a job.partial warning naming the member, the source
    partial, status counting it and showing it as the last problem (path once). A broken
    zip: a job.failed error. A good drop after both still lands."""
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    staging = tmp_path / "staging"
    staging.mkdir()
    cut = _move_in(
        export_zip(staging / "export.zip", cut_after(conversations_json(4), 2), range(4)), drop
    )
    partial = wait_until(lambda: daemon.events("job.partial"), 60, what="job.partial")
    (event,) = partial
    assert event["level"] == "warning" and event["source"] == str(cut)
    assert event["problem_count"] == 1
    assert event["problems"][0]["member"] == "conversations.json"
    assert "invalid JSON after 2 conversation(s)" in event["problems"][0]["error"]
    assert daemon.state_of(cut) == "partial"

    # The main loop records the daemon's last error once it hears of the outcome.
    status = wait_until(
        lambda: (found := _status(daemon))["daemon"]["last_error"] and found,
        30,
        what="the daemon's last error",
    )
    assert status["sources"]["partial"] == 1
    assert status["daemon"]["last_drop"]["state"] == "partial"
    assert status["last_error"]["path"] == str(cut)
    assert status["daemon"]["last_error"].count(str(cut)) == 1
    text = _status_text(daemon)
    assert "1 partial" in text and text.count(str(cut)) >= 1
    for line in text.splitlines():
        assert line.count(str(cut)) <= 1, line

    broken = staging / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + bytes(range(200)))
    broken = _move_in(broken, drop)
    failed = wait_until(lambda: daemon.events("job.failed"), 60, what="job.failed")
    assert failed[0]["level"] == "error" and failed[0]["source"] == str(broken)
    assert "truncated or damaged zip" in failed[0]["problems"][0]["error"]

    good = _move_in(write_files(staging / "photos", {"a.png": media_bytes(800, "d-a")}), drop)
    wait_until(lambda: daemon.state_of(good) == "ok", 60, what="the good drop")
    assert daemon.stop() == 0
    assert _status(daemon)["sources"] == {"ok": 1, "partial": 1, "failed": 1, "pending": 0}

    # A restart's reconcile does not queue the unchanged partial drop again (a drop made
    # after the restart lands after anything the reconcile queued).
    daemon.start()
    daemon.wait_started()
    later = _move_in(write_files(staging / "later", {"b.png": media_bytes(800, "d-b")}), drop)
    wait_until(lambda: daemon.state_of(later) == "ok", 60, what="the drop after the restart")
    assert len(daemon.jobs_for(cut)) == 1 and len(daemon.events("job.partial")) == 1
    assert daemon.stop() == 0


def test_a_drop_given_up_after_repeated_crashes_is_failed_with_its_reason(
    tmp_path: Path, make_daemon: MakeDaemon, drop: Path
) -> None:
    """The daemon dies (SIGKILL at a fault point) each time it ingests a drop; after the
    third time it gives the drop up: the source is failed with the reason, not pending,
    and status says so."""
    victim = write_files(drop / "crasher", {"a.png": media_bytes(700, "crash-a")})
    daemon = make_daemon()
    for attempt in range(1, 4):
        daemon.start(env={"MEDIASYNCD_FAULT": "ingest.after_source_row"})
        assert daemon.proc is not None
        assert daemon.proc.wait(timeout=60) == -signal.SIGKILL, attempt
    daemon.start()
    daemon.wait_started()
    given_up = wait_until(lambda: daemon.events("job.given_up"), 30, what="job.given_up")
    assert given_up[0]["level"] == "error" and given_up[0]["source"] == str(victim)
    assert daemon.state_of(victim) == "failed"
    status = wait_until(
        lambda: (found := _status(daemon))["daemon"]["last_error"] and found,
        30,
        what="the daemon's last error",
    )
    assert status["sources"]["pending"] == 0 and status["sources"]["failed"] == 1
    assert status["last_error"]["path"] == str(victim)
    assert "stopped 3 times" in status["last_error"]["error"]
    assert "stopped 3 times" in status["daemon"]["last_error"]
    assert daemon.stop() == 0


def test_an_empty_or_non_zip_zip_is_judged_once_it_settles(
    tmp_path: Path, make_daemon: MakeDaemon, drop: Path
) -> None:
    """With an incomplete-zip timeout of 5 minutes, an empty `.zip` and an HTML page
    saved as `.zip` (still for the settle time, no writer) fail within seconds, each
    error naming the path once."""
    daemon = make_daemon(watch={"incomplete_zip_seconds": 300.0})
    daemon.start()
    daemon.wait_started()
    empty = drop / "empty.zip"
    empty.write_bytes(b"")
    page = drop / "download.zip"
    page.write_bytes(b"<html><body>Your download has expired</body></html>\n")
    wait_until(
        lambda: daemon.state_of(empty) == "failed" and daemon.state_of(page) == "failed",
        30,
        what="both fake zips judged",
    )
    for path, words in ((empty, "empty file"), (page, "not a zip")):
        jobs = daemon.jobs_for(path)
        assert jobs and jobs[-1][0] == "failed"
        error = jobs[-1][1] or ""
        assert words in error and str(path) not in error, error
        event = next(e for e in daemon.events("job.failed") if e["source"] == str(path))
        assert str(path) not in event["error"], event
    text = _status_text(daemon)
    for line in text.splitlines():
        assert line.count(str(empty)) <= 1 and line.count(str(page)) <= 1, line
    assert daemon.stop() == 0


def test_a_zip_still_missing_its_end_waits_even_across_a_restart(
    tmp_path: Path, make_daemon: MakeDaemon, drop: Path
) -> None:
    """A zip whose central directory is not there yet (a writer we may not see) still
    waits; the wait is counted from its mtime too, so a daemon restart does not start it
    over: an old unfinished zip is judged at once after a restart."""
    daemon = make_daemon(watch={"incomplete_zip_seconds": 120.0})
    half = drop / "half.zip"
    half.write_bytes(b"PK\x03\x04" + bytes(5000))
    daemon.start()
    daemon.wait_started()
    wait_until(lambda: daemon.events("drop.waiting"), 30, what="the zip held back")
    assert daemon.state_of(half) is None
    assert daemon.stop() == 0
    old = half.stat().st_mtime - 200
    os.utime(half, (old, old))
    daemon.start()
    wait_until(lambda: daemon.state_of(half) == "failed", 30, what="the old zip judged")
    assert daemon.stop() == 0
