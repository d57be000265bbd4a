"""Durability per batch under SIGKILL (issue 14, docs/reliability.md scenario 1).

`mediasyncd ingest` runs in a real child process and is killed at the new fault point
`store.after_batch_sync`: the batch's objects are linked and flushed, the index
transaction naming them has not committed. What an earlier ingest acknowledged must be
whole; an object the index does not name must never be trusted (here one is damaged as a
power cut before the barrier could leave it); the re-run ends as a clean run does.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import Ingester
from tests.daemon.support import query
from tests.helpers import (
    assert_store_consistent,
    content_objects,
    index_state,
    make_zip,
    media_bytes,
    run_mediasyncd,
)

FIRST = {f"first/{n:03}.png": media_bytes(2_000 + n, f"a{n}") for n in range(30)}
# Over one batch (500 members), so the kill lands after the first batch's barrier.
SECOND = {f"second/{n:03}.jpg": media_bytes(1_000 + n, f"b{n}", "jpeg") for n in range(620)}


def _ingest(state: Path, *drops: Path, fault: str | None = None) -> int:
    env = {"MEDIASYNCD_FAULT": fault} if fault else None
    done = run_mediasyncd(
        ["--state-dir", str(state), "ingest", "--json", *map(str, drops)], env=env
    )
    if done.returncode == 0:
        assert json.loads(done.stdout)["failures"] == []
    return done.returncode


def _unnamed_objects(state: Path) -> list[Path]:
    named = {str(row[0]) for row in query(state / "index.db", "SELECT digest FROM blobs")}
    return sorted(
        obj
        for shard in (state / "objects").iterdir()
        if shard.is_dir()
        for obj in shard.iterdir()
        if shard.name + obj.name not in named
    )


def test_killed_between_barrier_and_commit_loses_nothing_and_trusts_nothing_unnamed(
    tmp_path: Path,
) -> None:
    first = make_zip(tmp_path / "drops" / "first.zip", FIRST)
    second = make_zip(tmp_path / "drops" / "second.zip", SECOND)
    state = tmp_path / "state"
    assert _ingest(state, first) == 0  # acknowledged
    acknowledged = {str(r[0]) for r in query(state / "index.db", "SELECT digest FROM blobs")}

    assert _ingest(state, second, fault="store.after_batch_sync:1") == -signal.SIGKILL
    unnamed = _unnamed_objects(state)
    assert len(unnamed) >= 500, "the batch's objects are in place, named by no row"
    after_kill = {str(r[0]) for r in query(state / "index.db", "SELECT digest FROM blobs")}
    assert after_kill == acknowledged
    # A power cut before the barrier could have left this object torn: same size, zeros.
    torn = unnamed[7]
    size = torn.stat().st_size
    torn.chmod(0o644)
    torn.write_bytes(b"\0" * size)

    assert _ingest(state, second) == 0
    app = App.load(state_dir=str(state))
    try:
        assert_store_consistent(app.index, app.store)
        held = {str(r[0]) for r in app.index.execute("SELECT digest FROM blobs")}
        assert acknowledged <= held
        assert len(list((state / "quarantine").iterdir())) == 1
        final = {"objects": content_objects(app.store), "index": index_state(app.index, app.store)}
    finally:
        app.close()

    clean_state = tmp_path / "clean"
    clean = App.load(state_dir=str(clean_state))
    try:
        summary = Ingester(clean.index, clean.store, clean.config, clean.state_dir).ingest_paths(
            [first, second]
        )
        assert summary.failures == []
        assert final == {
            "objects": content_objects(clean.store),
            "index": index_state(clean.index, clean.store),
        }
    finally:
        clean.close()


def test_an_ingest_flushes_per_batch_not_per_object(tmp_path: Path) -> None:
    """The barrier is reached once per batch of 500 members (and no kill happens in a
    run that reaches it fewer times than asked)."""
    second = make_zip(tmp_path / "drops" / "second.zip", SECOND)
    state = tmp_path / "state"
    assert _ingest(state, second, fault="store.after_batch_sync:2") == -signal.SIGKILL
    assert _ingest(tmp_path / "other", second, fault="store.after_batch_sync:3") == 0
