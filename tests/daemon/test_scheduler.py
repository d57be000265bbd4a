"""The periodic jobs: scrub slices cover the whole store, a scrub finds damage, the
checkpoint shrinks the WAL, gc runs only with the ingest lock, and the scheduler's
thread starts and stops."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediasyncd.app import App
from mediasyncd.config import Config, DaemonConfig
from mediasyncd.daemon.scheduler import (
    Maintenance,
    scrub_slice_count,
    slice_bounds,
    slice_digests,
)
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.store.locks import ingest_lock
from tests.daemon.support import wait_until
from tests.helpers import media_bytes, write_files


def test_slice_count() -> None:
    """Hourly scrubs over 30 days: 720 slices."""
    assert scrub_slice_count(3600, 30) == 720
    assert scrub_slice_count(86400 * 60, 30) == 1


@given(st.integers(min_value=1, max_value=5000), st.binary(min_size=16, max_size=16))
def test_every_digest_is_in_exactly_one_slice(n: int, raw: bytes) -> None:
    """The slices of n partition the digest space: each digest falls in exactly one."""
    digest = raw.hex()
    hits = []
    for k in {0, n - 1, int(digest[:8], 16) * n >> 32}:
        lo, hi = slice_bounds(k, n)
        if digest >= lo and (hi is None or digest < hi):
            hits.append(k)
    assert len(hits) == 1
    assert hits[0] == int(digest[:8], 16) * n >> 32


def _maintenance(app: App, config: Config, errors: list[str]) -> Maintenance:
    return Maintenance(
        connect=app.connect,
        store=app.store,
        config=config,
        state_dir=app.state_dir,
        request_reconcile=lambda: None,
        report_error=errors.append,
    )


def test_scrubs_cover_the_store_and_find_damage(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """Over n runs every object is re-hashed once; a flipped bit is reported."""
    drop = write_files(tmp_path / "drop", {f"{i}.png": media_bytes(2000, i) for i in range(40)})
    ingest(drop)
    digests = {str(r[0]) for r in app.index.execute("SELECT digest FROM blobs")}
    config = Config(daemon=DaemonConfig(scrub_interval_seconds=1.0, scrub_period_days=8 / 86400))
    errors: list[str] = []
    maintenance = _maintenance(app, config, errors)
    n = scrub_slice_count(1.0, 8 / 86400)
    assert n == 8
    covered: list[str] = []
    for k in range(n):
        covered.extend(slice_digests(app.index, k, n))
    assert sorted(covered) == sorted(digests)
    checked = sum(maintenance.scrub_once().checked for _ in range(n))
    assert checked == len(digests)
    assert errors == []

    victim = sorted(digests)[0]
    path = app.store.path_of(victim)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    found = [maintenance.scrub_once().problems for _ in range(n)]
    problems = [p for run in found for p in run]
    assert [(p.kind, p.digest) for p in problems] == [("damaged", victim)]
    assert errors and victim in errors[0]


def test_checkpoint_truncates_the_wal(
    app: App, ingest: Callable[..., IngestSummary], tmp_path: Path
) -> None:
    """After a checkpoint with no reader the WAL file is empty."""
    ingest(write_files(tmp_path / "drop", {f"{i}.png": media_bytes(500, i) for i in range(50)}))
    wal = app.index_path.with_name("index.db-wal")
    assert wal.stat().st_size > 0
    _maintenance(app, app.config, []).checkpoint()
    assert wal.stat().st_size == 0


def test_gc_waits_for_the_ingest_lock(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc does not run while an ingest holds the lock (it is postponed, not an error);
    once the lock is free it removes an unreferenced object."""
    import mediasyncd.daemon.scheduler as scheduler

    monkeypatch.setattr(scheduler, "GC_WAIT_SECONDS", 0.2)
    assert app.index is not None  # created and migrated, as the daemon does first
    loose = app.store.put_stream(io.BytesIO(media_bytes(3000, "loose")))
    old = time.time() - 3600
    os.utime(app.store.path_of(loose.digest), (old, old))
    config = Config(daemon=DaemonConfig(gc_enabled=True, gc_grace_seconds=60))
    errors: list[str] = []
    maintenance = _maintenance(app, config, errors)
    with ingest_lock(app.state_dir, exclusive=False):
        maintenance.gc_once()
    assert app.store.has(loose.digest)
    maintenance.gc_once()
    assert not app.store.has(loose.digest)
    assert errors == []


def test_scheduler_runs_jobs_and_stops(app: App) -> None:
    """With short intervals the jobs run on the scheduler's thread; shutdown joins it."""
    config = Config(
        daemon=DaemonConfig(
            reconcile_interval_seconds=0.1,
            checkpoint_interval_seconds=0.1,
            scrub_interval_seconds=0.1,
            gc_enabled=True,
            gc_interval_seconds=0.1,
        )
    )
    asked = threading.Event()
    maintenance = Maintenance(
        connect=app.connect,
        store=app.store,
        config=config,
        state_dir=app.state_dir,
        request_reconcile=asked.set,
        report_error=lambda message: None,
    )
    before = {t.ident for t in threading.enumerate()}
    maintenance.start()
    try:
        assert asked.wait(10)
        wait_until(lambda: os.path.exists(app.state_dir / "ingest.lock"), 10, what="a gc run")
    finally:
        maintenance.shutdown()
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []
