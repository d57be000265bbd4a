"""The durable job queue on a real index file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasyncd.index import Index, jobs, open_index


def _counts(index: Index) -> dict[str, int]:
    """Jobs per state."""
    found = {"queued": 0, "running": 0, "done": 0, "partial": 0, "failed": 0}
    for state, count in index.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
        found[str(state)] = int(count)
    return found


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    """A fresh, migrated index file."""
    idx = open_index(tmp_path / "index.db")
    yield idx
    idx.close()


def test_fifo_claim_and_finish(index: Index) -> None:
    """Jobs are claimed oldest first, marked running, then done or failed."""
    a = jobs.enqueue(index, "/drop/a.zip", "fp-a")
    b = jobs.enqueue(index, "/drop/b.zip", "fp-b")
    first = jobs.claim(index)
    assert first is not None and first.id == a and first.attempts == 1 and not first.resumed
    assert _counts(index)["running"] == 1
    jobs.finish(index, a)
    second = jobs.claim(index)
    assert second is not None and second.id == b
    jobs.fail(index, b, "not a zip")
    assert jobs.claim(index) is None
    assert _counts(index) == {"queued": 0, "running": 0, "done": 1, "partial": 0, "failed": 1}
    last = jobs.latest(index, "/drop/b.zip")
    assert last is not None and last.state == "failed" and last.error == "not a zip"
    assert last.fingerprint == "fp-b"
    finished = jobs.last_finished(index)
    assert finished is not None and finished.path in {"/drop/a.zip", "/drop/b.zip"}


def test_enqueue_updates_a_waiting_job(index: Index) -> None:
    """A drop already waiting keeps one job, with the newest fingerprint."""
    first = jobs.enqueue(index, "/drop/a", "v1")
    again = jobs.enqueue(index, "/drop/a", "v2")
    assert first == again
    job = jobs.claim(index)
    assert job is not None and job.fingerprint == "v2"
    # While it runs, a newer version gets its own job behind it.
    newer = jobs.enqueue(index, "/drop/a", "v3")
    assert newer != first


def test_enqueue_many_is_one_transaction(index: Index) -> None:
    """A thousand drops are queued at once, in order."""
    ids = jobs.enqueue_many(index, [(f"/drop/{i:04}", f"fp{i}") for i in range(1000)])
    assert len(set(ids)) == 1000
    assert _counts(index)["queued"] == 1000
    job = jobs.claim(index)
    assert job is not None and job.path == "/drop/0000"


def test_recover_resumes_running_jobs(tmp_path: Path) -> None:
    """After a crash (the connection just goes away), running jobs are queued again and
    claimed as resumed."""
    path = tmp_path / "index.db"
    first = open_index(path)
    jobs.enqueue(first, "/drop/a", "fp")
    assert jobs.claim(first) is not None
    first.close()
    second = open_index(path)
    try:
        resumed, given_up = jobs.recover(second)
        assert (resumed, given_up) == (1, [])
        job = jobs.claim(second)
        assert job is not None and job.resumed and job.attempts == 2
    finally:
        second.close()


def test_crash_loop_is_stopped(index: Index) -> None:
    """A drop that was running each of MAX_ATTEMPTS times the daemon died is failed."""
    jobs.enqueue(index, "/drop/bomb.zip", "fp")
    for _ in range(jobs.MAX_ATTEMPTS):
        assert jobs.claim(index) is not None
        resumed, given_up = jobs.recover(index)
    assert given_up == ["/drop/bomb.zip"]
    assert resumed == 0
    last = jobs.latest(index, "/drop/bomb.zip")
    assert last is not None and last.state == "failed"
    assert "stopped 3 times" in (last.error or "")
    assert jobs.claim(index) is None


def test_requeue_after_shutdown_does_not_count(index: Index) -> None:
    """An ingest interrupted by SIGTERM goes back in the queue; the attempt is not counted
    toward the crash-loop limit, and the next claim is marked resumed."""
    jobs.enqueue(index, "/drop/a", "fp")
    for _ in range(5):
        job = jobs.claim(index)
        assert job is not None
        jobs.requeue(index, job.id)
    job = jobs.claim(index)
    assert job is not None and job.attempts == 1 and job.resumed


def test_release_forgets_the_job(index: Index) -> None:
    """A released job is gone; the drop is queued again when it settles."""
    jobs.enqueue(index, "/drop/a", "fp")
    job = jobs.claim(index)
    assert job is not None
    jobs.release(index, job.id)
    assert jobs.latest(index, "/drop/a") is None
    assert jobs.claim(index) is None
