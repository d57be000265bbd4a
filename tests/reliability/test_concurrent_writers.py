"""Threats 2 and 10 of issue 11: one writer per source, and no reindex under a writer.

2. Two ingests of the same path at once (CLI + CLI, daemon + CLI) used to delete each
   other's occurrences: each run removes the rows of every other run at its end. One
   source is ingested by one writer at a time; the other waits, and whatever the
   interleaving the index equals a single ingest.
10. `reindex --yes` while the daemon runs moved index.db aside under it. It is refused
   while the daemon or another writer holds its lock, with a message saying what to do.
The interleavings are forced with fault points that stop a child (SIGSTOP) mid-ingest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediasyncd.app import App
from tests.daemon.support import DaemonProcess, wait_until, write_config
from tests.helpers import index_state, media_bytes, run_mediasyncd, wait_stopped, write_files
from tests.reliability.races import Child, resume

MakeDaemon = Callable[..., DaemonProcess]

# More than one batch (ingest.BATCH = 500), so a stop after the first commit is mid-ingest.
FILES = 1200
MID_INGEST = "ingest.after_batch_commit:1:stop"


def _folder(root: Path) -> Path:
    return write_files(root, {f"img/{i:04}.png": media_bytes(600, f"c{i}") for i in range(FILES)})


def _state_of(state_dir: Path) -> dict[str, Any]:
    app = App.load(None, str(state_dir))
    try:
        return index_state(app.index, app.store)
    finally:
        app.close()


def _single_ingest(tmp_path: Path, folder: Path) -> dict[str, Any]:
    reference = tmp_path / "reference-state"
    done = run_mediasyncd(["--state-dir", str(reference), "ingest", str(folder)])
    assert done.returncode == 0, done.stderr
    return _state_of(reference)


def _occurrence_count(state: dict[str, Any]) -> int:
    return len(state["occurrences"])


def test_two_cli_ingests_of_one_path_equal_a_single_ingest(tmp_path: Path) -> None:
    """CLI A stops after its first batch; CLI B ingests the same folder meanwhile (it must
    wait for A); A goes on. Both exit 0 and the index equals one ingest of the folder."""
    folder = _folder(tmp_path / "export")
    expected = _single_ingest(tmp_path, folder)
    assert _occurrence_count(expected) == FILES
    state = tmp_path / "state"
    args = ["--state-dir", str(state), "ingest", str(folder)]
    first = Child(args, tmp_path, "first", fault=MID_INGEST)
    try:
        wait_stopped(first.proc.pid, "the first ingest")
        second = Child(args, tmp_path, "second")
        wait_until(
            lambda: second.exited() or "waiting" in second.stderr,
            what="the second ingest to finish or to wait for the first",
        )
        resume(first.proc.pid)
        assert first.wait() == 0, first.stderr
        assert second.wait() == 0, second.stderr
    finally:
        first.kill()
    assert _state_of(state) == expected
    again = run_mediasyncd([*args, "--json"])
    assert again.returncode == 0 and json.loads(again.stdout)["sources"][0].get("unchanged")
    assert _state_of(state) == expected


def test_cli_ingest_beside_the_daemon_on_its_drop_equals_a_single_ingest(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """The daemon stops mid-ingest of a folder drop; `mediasyncd ingest` of the same folder
    waits for it; the daemon goes on. The index equals one ingest of the folder."""
    expected = _single_ingest(tmp_path, _folder(tmp_path / "elsewhere" / "export"))
    daemon = make_daemon()
    daemon.start(env={"MEDIASYNCD_FAULT": MID_INGEST})
    daemon.wait_started()
    assert daemon.proc is not None
    folder = _folder(drop / "export")
    wait_stopped(daemon.proc.pid, "the daemon")
    args = ["--config", str(daemon.config), "--state-dir", str(daemon.state_dir)]
    cli = Child([*args, "ingest", str(folder)], tmp_path, "cli")
    try:
        wait_until(
            lambda: cli.exited() or "waiting" in cli.stderr,
            what="the CLI ingest to finish or to wait for the daemon",
        )
        resume(daemon.proc.pid)
        assert cli.wait() == 0, cli.stderr
        wait_until(
            lambda: any(e.get("source") == str(folder) for e in daemon.events("job.done")),
            what="the daemon's own ingest to finish",
        )
    finally:
        cli.kill()
    assert daemon.stop() == 0
    state = _state_of(daemon.state_dir)
    # Same members, digests and keys as a single ingest (the source path differs).
    rebase = str(tmp_path / "elsewhere"), str(drop)
    assert _occurrence_count(state) == FILES
    assert [(s.replace(*rebase), *rest) for s, *rest in expected["occurrences"]] == state[
        "occurrences"
    ]


def test_reindex_is_refused_while_the_daemon_runs(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """`reindex --yes` beside a running daemon: exit 2 with a message saying to stop the
    daemon; index.db stays where it is and the daemon goes on ingesting into it."""
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    first = drop / "first.png"
    first.write_bytes(media_bytes(2000, "reindex-first"))
    wait_until(lambda: daemon.state_of(first) == "ok", what="the first drop")
    done = daemon.cli("reindex", "--yes")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "stop the daemon" in done.stderr and "Traceback" not in done.stderr
    assert not list(daemon.state_dir.glob("index.db.before-reindex-*"))
    second = drop / "second.png"
    second.write_bytes(media_bytes(2000, "reindex-second"))
    wait_until(lambda: daemon.state_of(second) == "ok", what="the drop after the refusal")
    status = daemon.status()
    assert status["daemon"]["running"] is True
    assert daemon.stop() == 0


def test_reindex_is_refused_while_a_cli_ingest_writes(tmp_path: Path) -> None:
    """A CLI ingest stopped mid-way holds the ingest lock: `reindex --yes` is refused (exit
    2, no traceback), the ingest finishes and reindex then works."""
    folder = _folder(tmp_path / "export")
    state = tmp_path / "state"
    config = write_config(tmp_path / "c.toml", [])
    args = ["--config", str(config), "--state-dir", str(state)]
    writer = Child([*args, "ingest", str(folder)], tmp_path, "writer", fault=MID_INGEST)
    try:
        wait_stopped(writer.proc.pid, "the ingest")
        done = run_mediasyncd([*args, "reindex", "--yes"])
        resume(writer.proc.pid)
        assert writer.wait() == 0, writer.stderr
    finally:
        writer.kill()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ingest" in done.stderr and "Traceback" not in done.stderr
    assert not list(state.glob("index.db.before-reindex-*"))
    again = run_mediasyncd([*args, "reindex", "--yes", "--json"])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["members"] >= FILES
