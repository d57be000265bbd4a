"""The helper process that parses conversations beside the writer
(mediasyncd.conversations.helper): the index is the same with it as without it, also when
the helper dies halfway, and it never outlives the ingest.

The real CLI in child processes, on a real zip whose conversations.json holds more than
two batches and the odd items the fast path must report (a repeated conversation, one
without an id, one nested too deep, a number where a conversation belongs).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.conversations import helper
from mediasyncd.conversations.item import extract_item
from tests.conversations.test_documents import conversation
from tests.daemon.support import DaemonProcess, wait_until, write_config
from tests.helpers import make_zip, run_mediasyncd

# Columns that differ between two correct ingests (when a row was written).
VOLATILE = {"updated", "created", "first_seen", "last_seen", "seen_at"}


def _odd_export(path: Path) -> Path:
    items: list[Any] = [conversation(i, 3) for i in range(430)]
    items.insert(7, items[3])
    items.insert(215, {"title": "no id", "mapping": {}})
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    items.insert(320, {"id": "too-deep", "mapping": {}, "x": deep})
    items.append(42)
    make_zip(path, {"conversations.json": json.dumps(items).encode()})
    return path


def _ingest(tmp_path: Path, name: str, drop: Path, config: str, **env: str) -> tuple[Any, str]:
    conf = tmp_path / f"{name}.toml"
    conf.write_text(config + '\n[logging]\nformat = "json"\n')
    state = tmp_path / name
    done = run_mediasyncd(
        ["-vv", "--config", str(conf), "--state-dir", str(state), "ingest", "--json", str(drop)],
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    summary = json.loads(done.stdout)
    return (done.returncode, summary["sources"][0]["problems"]), done.stderr


def _tables(state: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(state / "index.db")
    try:
        out = {}
        for table in ("conversations", "messages", "refs", "ref_keys", "blobs"):
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            keep = [c for c in columns if c not in VOLATILE]
            query = f"SELECT {', '.join(keep)} FROM {table}"
            if table == "blobs":
                # The drop's manifest names the state dir it was written for.
                query += " WHERE digest NOT IN (SELECT manifest_digest FROM sources)"
            rows = db.execute(query).fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        db.close()


def _events(log: str, name: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return [event for event in lines if event.get("event") == name]


def _helper_pids(log: str) -> list[int]:
    return [int(event["pid"]) for event in _events(log, "helper.started")]


@pytest.fixture
def without_helper(tmp_path: Path) -> tuple[Path, Any]:
    drop = _odd_export(tmp_path / "export.zip")
    outcome, log = _ingest(tmp_path, "alone", drop, "[ingest]\nhelper_process = false")
    assert _helper_pids(log) == []
    return drop, outcome


def test_the_index_is_the_same_with_the_helper(
    tmp_path: Path, without_helper: tuple[Path, Any]
) -> None:
    drop, outcome = without_helper
    helped, log = _ingest(tmp_path, "helped", drop, "[ingest]\nhelper_min_bytes = 0")
    pids = _helper_pids(log)
    assert len(pids) == 1, log
    assert helped == outcome
    code, problems = outcome
    assert code == 3  # partial: the three odd items are reported, the rest is kept
    assert len(problems) == 3, problems
    assert _tables(tmp_path / "helped") == _tables(tmp_path / "alone")
    assert len(_tables(tmp_path / "alone")["conversations"]) == 430
    # The helper went with the command.
    assert not os.path.exists(f"/proc/{pids[0]}")


def test_a_helper_killed_halfway_changes_nothing_but_the_speed(
    tmp_path: Path, without_helper: tuple[Path, Any]
) -> None:
    drop, outcome = without_helper
    helped, log = _ingest(
        tmp_path,
        "killed",
        drop,
        "[ingest]\nhelper_min_bytes = 0",
        MEDIASYNCD_FAULT="conversations.helper_reply:2",
    )
    assert len(_helper_pids(log)) == 1
    assert len(_events(log, "helper.abandoned")) == 1, log
    assert helped == outcome
    assert _tables(tmp_path / "killed") == _tables(tmp_path / "alone")


def test_the_daemon_uses_the_helper_and_records_the_same(
    tmp_path: Path, without_helper: tuple[Path, Any]
) -> None:
    """`mediasyncd run` starts the helper from its worker thread, gets the same index as
    a CLI ingest without it, and leaves no helper behind when it stops."""
    export, _ = without_helper
    folder = tmp_path / "drop"
    folder.mkdir()
    config = write_config(
        tmp_path / "daemon.toml",
        [folder],
        ingest={"helper_min_bytes": 0},
        logging={"level": "debug", "format": "json"},
    )
    daemon = DaemonProcess(config, tmp_path / "daemon-state", tmp_path / "daemon.log")
    daemon.start()
    try:
        daemon.wait_started()
        # Renamed in whole: the daemon never sees a zip half copied.
        staged = tmp_path / "staged.zip"
        staged.write_bytes(export.read_bytes())
        staged.rename(folder / "export.zip")
        wait_until(
            lambda: daemon.state_of(folder / "export.zip") == "partial",
            timeout=60,
            what="the drop, partial for its three odd items",
        )
        pids = [int(event["pid"]) for event in daemon.events("helper.started")]
        assert len(pids) == 1, daemon.log.read_text()[-3000:]
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert _tables(tmp_path / "daemon-state") == _tables(tmp_path / "alone")
    assert not os.path.exists(f"/proc/{pids[0]}")


def test_extraction_in_the_helper_equals_extraction_here() -> None:
    raws = [json.dumps(conversation(i, 2)).encode() for i in range(5)]
    raws += [b'{"id": "x", "mapping": 3}', b"[1, 2]", b"{not json"]
    with helper.Extraction(128, 50_000, compress=True, helper=True) as extraction:
        assert extraction.helped
        extraction.submit(raws)
        got = extraction.collect()
        assert extraction.trouble is None
    assert got == [extract_item(raw, 128, 50_000, compress=True) for raw in raws]
    assert [r.data is None for r in got] == [False] * 5 + [True] * 3
