"""The locks between writers when the index is PostgreSQL: advisory locks held by one
connection (one machine) keep another connection (another machine) out, as the state
dir's flock files do for SQLite (tests/test_sourcelock.py, tests/test_gc.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mediasyncd.coordination import AdvisoryLocks, FileLocks, locks_for
from mediasyncd.daemon.presence import SharedPresence
from mediasyncd.index import Index, advisory, open_index
from mediasyncd.store.locks import GcBusy, Interrupted, ReindexRefused


def test_the_engine_chooses_the_locks(tmp_path: Path, connect: Callable[[], Index]) -> None:
    local = open_index(None)
    try:
        assert isinstance(locks_for(local, tmp_path), FileLocks)
    finally:
        local.close()
    assert isinstance(locks_for(connect(), tmp_path), AdvisoryLocks)


def test_gc_waits_for_an_ingest_on_another_machine(
    tmp_path: Path, connect: Callable[[], Index]
) -> None:
    """Ingests share the lock; gc, which takes it alone, gives up after its wait while
    one runs elsewhere, and gets it once that ingest is done."""
    ingest, other_ingest, gc = (locks_for(connect(), tmp_path) for _ in range(3))
    with (
        ingest.ingest(exclusive=False),
        other_ingest.ingest(exclusive=False),
        pytest.raises(GcBusy, match="ingest is running"),
        gc.ingest(exclusive=True, wait=0.3),
    ):
        pass
    with (
        gc.ingest(exclusive=True, wait=0.3),
        pytest.raises(GcBusy),
        ingest.ingest(exclusive=True, wait=0.2),
    ):
        pass


def test_one_writer_per_source_across_machines(
    tmp_path: Path, connect: Callable[[], Index]
) -> None:
    """A second writer of the same source waits (told once who holds it, when it runs on
    this machine) and can be stopped while waiting; another source is free."""
    first, second = locks_for(connect(), tmp_path), locks_for(connect(), tmp_path)
    told: list[int | None] = []
    with first.source("/drop/x.zip"):
        with (
            pytest.raises(Interrupted),
            second.source("/drop/x.zip", on_wait=told.append, should_stop=lambda: bool(told)),
        ):
            pass
        with second.source("/drop/y.zip"):
            pass
    assert told == [os.getpid()]
    with second.source("/drop/x.zip"):
        pass


def test_reindex_is_refused_while_a_worker_runs(
    tmp_path: Path, connect: Callable[[], Index]
) -> None:
    """A running worker holds its presence lock; reindex (on another connection) refuses at
    once, and goes ahead once the worker has stopped."""
    worker = SharedPresence(connect(), tmp_path, 60.0)
    worker.started("starting", [])
    rebuild = locks_for(connect(), tmp_path)
    with pytest.raises(ReindexRefused, match="stop every"), rebuild.sole_writer():
        pass
    worker.stopped()
    with rebuild.sole_writer():
        pass


def test_a_killed_holder_leaves_no_lock(tmp_path: Path, connect: Callable[[], Index]) -> None:
    """A connection that ends (its process killed) releases every lock it held."""
    holder = connect()
    # Taken and never given back: only the end of the connection can release it.
    assert advisory.try_lock(holder, advisory.INGEST)
    waiting = locks_for(connect(), tmp_path)
    with pytest.raises(GcBusy), waiting.ingest(exclusive=False, wait=0.2):
        pass
    done = threading.Event()
    holder.close()
    with waiting.ingest(exclusive=True, wait=10):
        done.set()
    assert done.is_set()
