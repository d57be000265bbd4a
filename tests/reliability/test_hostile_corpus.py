"""Every hostile archive of the generated corpus (tests/support/hostile_corpus.py), dropped on a
real mediasyncd: docs/reliability.md, scenarios 5 (zip slip), 6 (bombs) and 7 (broken input).

Each case runs twice:
- `mediasyncd ingest` in a child process with a good zip beside it: the expected clear
  error naming the file (and member), the good zip and the file's good members ingested,
  the child's peak memory and the state dir's disk use bounded, nothing written outside
  the state dir;
- dropped into a running daemon's drop folder, each followed by a good file: the good file
  lands every time, the daemon never exits, and its peak memory stays bounded.

Hard-link members are not in the corpus because zip cannot express them: hard links are a
tar concept, and Info-ZIP stores a hard-linked file as a second regular copy (its Unix
extra fields carry times and ids, never a link target); corpus.py says more.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.store.manifest import MANIFEST_MEMBER
from tests.daemon.support import DaemonProcess, query, wait_until
from tests.helpers import assert_store_consistent, tree_snapshot
from tests.reliability.support import (
    MAX_RSS_BYTES,
    MAX_STATE_DISK_BYTES,
    disk_bytes,
    peak_rss_of,
    run_measured,
    write_limits_config,
)
from tests.support.hostile_corpus import CASES, GOOD, MAX_MEMBERS, Case, good_zip


def _members_of(app: App, source: Path) -> set[str]:
    """The members stored for a source (its manifest left out)."""
    rows = app.index.execute(
        "SELECT o.member FROM occurrences o JOIN sources s ON s.id = o.source_id "
        "WHERE s.path = ? AND o.member != ?",
        (str(source), MANIFEST_MEMBER),
    ).fetchall()
    return {str(r[0]) for r in rows}


def _check_failures(case: Case, source: Path, failures: list[dict[str, Any]]) -> None:
    """The case's error is reported once per cause, naming the source and the member."""
    mine = [f for f in failures if f["source"] == str(source)]
    if not case.text:
        assert mine == []
        return
    assert mine, f"no failure reported for {source}: {failures}"
    for failure in mine:
        assert failure["member"] == case.member, failure
    assert any(case.text in f["error"] for f in mine), mine


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_drop_in_a_child_process(
    tmp_path: Path, case: Case, record_property: Callable[[str, object], None]
) -> None:
    """A clear error naming file and member, the rest ingested, bounded memory and disk,
    nothing outside the state dir (scenarios 5-7)."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    source = case.build(inputs).absolute()
    good = good_zip(inputs / "good.zip", case.name).absolute()
    config = write_limits_config(tmp_path / "mediasyncd.toml", max_members=MAX_MEMBERS)
    state = tmp_path / "state"
    before = tree_snapshot(tmp_path)

    args = ["--config", str(config), "--state-dir", str(state), "ingest", "--json"]
    run = run_measured([*args, str(source), str(good)])
    record_property("max_rss_bytes", run.max_rss_bytes)
    record_property("state_disk_bytes", disk_bytes(state))

    assert "Traceback" not in run.stderr, run.stderr
    summary = json.loads(run.stdout)
    states = {s["path"]: s["state"] for s in summary["sources"]}
    assert states == {str(source): case.state, str(good): "ok"}
    assert run.returncode == {"failed": 1, "partial": 3, "ok": 0}[case.state], run.stderr
    _check_failures(case, source, summary["failures"])

    after = tree_snapshot(tmp_path, exclude=[state])
    assert after == {k: v for k, v in before.items() if not k.startswith("state")}
    assert 0 < run.max_rss_bytes < MAX_RSS_BYTES, run.max_rss_bytes
    assert disk_bytes(state) < MAX_STATE_DISK_BYTES

    app = App.load(state_dir=str(state))
    try:
        assert_store_consistent(app.index, app.store)
        assert _members_of(app, good) == {f"{case.name}/photo.png"}
        if case.good_lands:
            assert set(GOOD) <= _members_of(app, source)
        if case.member and case.state == "partial":
            recorded = app.index.execute(
                "SELECT f.member, f.error FROM member_failures f "
                "JOIN sources s ON s.id = f.source_id WHERE s.path = ?",
                (str(source),),
            ).fetchall()
            assert any(r[0] == case.member and case.text in r[1] for r in recorded), recorded
    finally:
        app.close()


def _source_report(daemon: DaemonProcess, path: Path) -> tuple[str | None, str]:
    """(state, every error recorded for the source and its members, joined)."""
    rows = query(daemon.db, "SELECT id, state, error FROM sources WHERE path = ?", (str(path),))
    if not rows:
        return None, ""
    source_id, state, error = rows[0]
    members = query(
        daemon.db, "SELECT member, error FROM member_failures WHERE source_id = ?", (source_id,)
    )
    text = "\n".join([str(error or ""), *(f"{m}: {e}" for m, e in members)])
    return str(state), text


def _landed_or_exited(daemon: DaemonProcess, path: Path) -> bool:
    return daemon.state_of(path) == "ok" or daemon.exited()


def _settled_report(daemon: DaemonProcess, path: Path) -> tuple[str | None, str] | None:
    report = _source_report(daemon, path)
    return report if report[0] in ("ok", "partial", "failed") else None


@pytest.mark.slow
def test_daemon_keeps_serving_through_the_whole_corpus(
    tmp_path: Path,
    make_daemon: Callable[..., DaemonProcess],
    drop: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """Each hostile file dropped into a running daemon, then a good file: the good file
    lands every time, each hostile file is recorded with its error, and the daemon never
    exits; its peak memory and disk stay bounded and nothing is written outside."""
    daemon = make_daemon(limits={"max_members": MAX_MEMBERS})
    daemon.start()
    daemon.wait_started()
    staging = tmp_path / "staging"
    outside_before = tree_snapshot(tmp_path, exclude=[daemon.state_dir, drop, staging])
    outcomes: dict[str, tuple[str | None, str]] = {}
    for case in CASES:
        folder = staging / case.name
        folder.mkdir(parents=True)
        built = case.build(folder)
        hostile = drop / f"{case.name}-{built.name}"
        os.rename(built, hostile)  # renamed in: the daemon never sees it half-written
        good = drop / f"good-after-{case.name}.zip"
        os.rename(good_zip(folder / "good.zip", f"daemon-{case.name}"), good)
        wait_until(
            functools.partial(_landed_or_exited, daemon, good),
            timeout=90,
            what=f"the good file after {case.name}",
        )
        assert not daemon.exited(), daemon.log.read_text()[-3000:]
        found = wait_until(
            functools.partial(_settled_report, daemon, hostile),
            timeout=90,
            what=f"{case.name} recorded",
        )
        assert found is not None
        outcomes[case.name] = found
    peak = peak_rss_of(daemon.proc.pid) if daemon.proc else 0
    record_property("daemon_max_rss_bytes", peak)
    assert daemon.stop() == 0
    for case in CASES:
        state, text = outcomes[case.name]
        assert state == case.state, (case.name, state, text)
        assert case.text in text, (case.name, text)
        if case.member:
            assert case.member in text, (case.name, text)
    assert peak < MAX_RSS_BYTES, peak
    assert disk_bytes(daemon.state_dir) < MAX_STATE_DISK_BYTES * 2
    outside_after = tree_snapshot(tmp_path, exclude=[daemon.state_dir, drop, staging])
    log_name = daemon.log.name
    assert {k: v for k, v in outside_after.items() if k != log_name} == {
        k: v for k, v in outside_before.items() if k != log_name
    }
