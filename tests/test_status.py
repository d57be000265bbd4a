"""status: the contract's counts, read from the index in one snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.status import collect_status
from tests.helpers import STATUS_JSON_KEYS, make_zip, media_bytes, write_files

Ingest = Callable[..., IngestSummary]


def test_empty_index(app: App) -> None:
    """A fresh index reports zeros, no last ingest, and no daemon."""
    status = collect_status(app.index)
    assert tuple(status) == STATUS_JSON_KEYS
    assert status["blobs"] == 0 and status["bytes"] == 0
    assert status["references"] == {"resolved": 0, "unresolved": 0}
    assert status["matches"] == {}
    assert status["sources"] == {"ok": 0, "partial": 0, "failed": 0, "pending": 0}
    assert status["last_ingest"] is None and status["last_error"] is None
    assert status["daemon"]["running"] is False and status["daemon"]["queue"] == 0


def test_counts_after_ingests(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """Objects and bytes equal what the store holds; sources are counted by state; the last
    ingest and last error name their sources; unmatched media are orphans."""
    photos = {f"{i}.png": media_bytes(1000 * (i + 1), i) for i in range(3)}
    good = write_files(tmp_path / "photos", photos)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    ingest(good)
    ingest(bad)
    status = collect_status(app.index)
    on_disk = [entry.size for entry in app.store.iterate()]
    assert status["blobs"] == len(on_disk)
    assert status["bytes"] == sum(on_disk)
    assert status["sources"] == {"ok": 1, "partial": 0, "failed": 1, "pending": 0}
    assert status["orphans"] == 3
    assert status["last_ingest"]["path"] == str(bad.absolute())
    assert status["last_ingest"]["state"] == "failed"
    assert status["last_error"]["path"] == str(bad.absolute())
    assert "not a zip" in status["last_error"]["error"]


def test_references_matches_and_orphans(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """References are resolved when a match names them; matches are counted per strategy;
    a matched media file is no orphan."""
    archive = make_zip(
        tmp_path / "d.zip", {"a.png": media_bytes(500, "a"), "b.png": media_bytes(500, "b")}
    )
    ingest(archive)
    digest_a = app.index.scalar("SELECT digest FROM occurrences WHERE member = 'a.png'")
    with app.index.write():
        app.index.execute(
            """INSERT INTO conversations (id, content_hash, updated, message_count)
               VALUES ('c1', 'h', 'now', 4)"""
        )
        for ref_id, key in [(1, "file-a"), (2, "file-b"), (3, "file-c")]:
            app.index.execute(
                """INSERT INTO refs (id, subject, conversation_id, kind, key_kind, key)
                   VALUES (?, 'conversation', 'c1', 'asset', 'file_id', ?)""",
                (ref_id, key),
            )
        app.index.execute(
            """INSERT INTO matches (subject, conversation_id, digest, ref_id, strategy,
                                    association, confidence)
               VALUES ('conversation', 'c1', ?, 1, 'file_id', 'generated', 1.0)""",
            (digest_a,),
        )
    status = collect_status(app.index)
    assert status["conversations"] == 1 and status["messages"] == 4
    assert status["references"] == {"resolved": 1, "unresolved": 2}
    assert status["matches"] == {"file_id": 1}
    assert status["orphans"] == 1  # b.png


def test_daemon_running_and_queue(app: App) -> None:
    """The daemon is 'running' only while the pid it recorded is alive; queued and running
    jobs make the queue."""
    with app.index.write():
        app.index.execute(
            "INSERT INTO daemon_state (id, pid, since, status) VALUES (1, ?, 'then', 'idle')",
            (os.getpid(),),
        )
        for state in ("queued", "queued", "running", "done", "failed"):
            app.index.execute(
                "INSERT INTO jobs (path, state, enqueued) VALUES ('/d', ?, 'now')", (state,)
            )
    daemon = collect_status(app.index)["daemon"]
    assert daemon["running"] is True and daemon["pid"] == os.getpid()
    assert daemon["since"] == "then" and daemon["queue"] == 3
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with app.index.write():
        app.index.execute("UPDATE daemon_state SET pid = ?", (int(dead.stdout),))
    daemon = collect_status(app.index)["daemon"]
    assert daemon["running"] is False and daemon["pid"] is None
