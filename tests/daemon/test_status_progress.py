"""`mediasyncd status` beside a running daemon: the drop being ingested with bytes done
and total, phase, rate and time left (`daemon.progress`), a queue count that agrees with
itself, and a "doing" line that never lags behind "last drop".

The daemon is frozen (SIGSTOP from a `:stop` fault point) at a known step of the ingest,
so what `status` shows there is certain, not a race."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.daemon.support import DaemonProcess, wait_until
from tests.helpers import make_zip, media_bytes, wait_stopped

MakeDaemon = Callable[..., DaemonProcess]


def status(daemon: DaemonProcess, *args: str) -> str:
    result = daemon.cli("status", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def status_json(daemon: DaemonProcess) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(status(daemon, "--json"))
    return data


def drop_zip(tmp_path: Path, drop: Path) -> Path:
    """A zip of 30 photos, written beside the drop folder and renamed into it."""
    staged = make_zip(
        tmp_path / "staging" / "photos.zip",
        {f"p{i:02}.png": media_bytes(50_000 + i, i) for i in range(30)},
    )
    target = drop / staged.name
    staged.rename(target)
    return target


def start_frozen_at(make_daemon: MakeDaemon, fault: str) -> DaemonProcess:
    daemon = make_daemon(logging={"progress_interval_seconds": 0.0})
    daemon.start(env={"MEDIASYNCD_FAULT": f"{fault}:1:stop"})
    daemon.wait_started()
    return daemon


def resume(daemon: DaemonProcess, path: Path) -> None:
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGCONT)
    wait_until(lambda: daemon.jobs_for(path)[-1:] == [("done", None)], what="the job to finish")


def test_status_shows_bytes_phase_rate_and_eta_while_hashing(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """Frozen after the ingest stored its members: `status --json` has daemon.progress
    (bytes done of the drop's size, phase hashing, a rate and an ETA) and the text says
    `ingesting photos.zip: hashing ... of ... (N %), ..., about ... left`; `queue 1` in
    both places (it was `queue 1` beside `activity ... queue 0`)."""
    daemon = start_frozen_at(make_daemon, "ingest.after_batch_commit")
    path = drop_zip(tmp_path, drop)
    assert daemon.proc is not None
    wait_stopped(daemon.proc.pid)

    data = status_json(daemon)["daemon"]
    assert data["running"] is True and data["queue"] == 1
    assert data["current"] == str(path)
    progress = data["progress"]
    assert progress["path"] == str(path)
    assert progress["phase"] == "hashing"
    assert progress["bytes_total"] == path.stat().st_size
    assert 0 < progress["bytes_done"] <= progress["bytes_total"]
    assert progress["rate_bytes_per_second"] > 0
    assert progress["eta_seconds"] is not None and progress["eta_seconds"] >= 0
    assert "queue" not in (data["activity"] or "")

    text = status(daemon)
    assert re.search(r"^daemon +running, pid \d+ since \S+, queue 1$", text, re.MULTILINE), text
    doing = re.search(r"^  doing +ingesting photos\.zip: (.*)$", text, re.MULTILINE)
    assert doing, text
    assert re.fullmatch(
        r"hashing [\d.]+ [KM]iB of [\d.]+ [KM]iB \(\d+ %\), [\d.]+ [KMG]iB/s, about \d+ s left",
        doing[1],
    ), doing[1]
    assert "queue 0" not in text
    resume(daemon, path)


def test_status_names_the_phase_after_hashing(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """Frozen just before matching: phase `matching`, every byte read, no ETA (matching
    has no byte count); the text says how long it has been going."""
    daemon = start_frozen_at(make_daemon, "ingest.before_rematch")
    path = drop_zip(tmp_path, drop)
    assert daemon.proc is not None
    wait_stopped(daemon.proc.pid)
    progress = status_json(daemon)["daemon"]["progress"]
    assert progress["phase"] == "matching"
    assert progress["bytes_done"] == progress["bytes_total"] == path.stat().st_size
    assert progress["eta_seconds"] is None
    text = status(daemon)
    assert re.search(
        r"^  doing +ingesting photos\.zip: matching \(read [\d.]+ [KM]iB, \d+ s so far\)$",
        text,
        re.MULTILINE,
    ), text
    resume(daemon, path)


def test_elapsed_time_grows_while_a_phase_reports_nothing(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """A phase without byte counts (reading conversations, matching) publishes nothing
    new for a while: `status` still counts the time from the ingest's start, so a long
    phase does not look frozen at `6 s so far` (seen on a 144 MiB export)."""
    daemon = start_frozen_at(make_daemon, "ingest.before_rematch")
    path = drop_zip(tmp_path, drop)
    assert daemon.proc is not None
    wait_stopped(daemon.proc.pid)
    first = status_json(daemon)["daemon"]["progress"]["elapsed_seconds"]
    # The daemon is frozen, so whatever it published stays as it is; 2.2 s later the
    # elapsed time must have moved by about that much.
    wait_until(
        lambda: status_json(daemon)["daemon"]["progress"]["elapsed_seconds"] >= first + 2,
        what="the elapsed time to grow",
        timeout=10,
    )
    resume(daemon, path)


def test_doing_line_never_lags_behind_last_drop(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """Once `last drop` says the drop is done, `doing` no longer says it is being
    ingested (it used to, until the next heartbeat), and the progress is gone; the log
    has `ingest.progress` events with the phases."""
    daemon = start_frozen_at(make_daemon, "ingest.before_rematch")
    path = drop_zip(tmp_path, drop)
    assert daemon.proc is not None
    wait_stopped(daemon.proc.pid)
    os.kill(daemon.proc.pid, signal.SIGCONT)

    def done_status() -> str | None:
        out = status(daemon)
        return out if f"done {path}" in out else None

    text = wait_until(done_status, what="status to show the drop done")
    assert "ingesting" not in text, text
    assert re.search(r"^  doing +waiting for drops$", text, re.MULTILINE), text
    assert status_json(daemon)["daemon"]["progress"] is None
    phases = [event["phase"] for event in daemon.events("ingest.progress")]
    assert phases[0] == "hashing" and phases[-1] == "matching"
    assert "reading documents" in phases
    for event in daemon.events("ingest.progress"):
        assert event["source"] == str(path)
        assert 0 <= event["bytes_done"] <= event["bytes_total"]
