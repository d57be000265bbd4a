"""The daemon's durable work queue: one row per settled drop in the `jobs` table.

States: queued -> running -> done | partial | failed. A job is written when its drop has
settled,
so a crash or restart loses nothing: `recover()` puts jobs that were running back in the
queue, and the reconcile scan finds drops that were seen but not yet settled.

Loop guards:
- a drop that failed is not queued again until its fingerprint changes (`latest()` keeps
  the fingerprint of every attempt);
- a job that was running each time the daemon died `MAX_ATTEMPTS` times (a drop that
  crashes or OOM-kills the process) is marked failed instead of crash-looping, and so is
  its source, with the reason (not left "pending");
- a shutdown that interrupts an ingest puts the job back without counting the attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mediasyncd.index import sources
from mediasyncd.index.engine import Index
from mediasyncd.timeutil import utc_now_iso

MAX_ATTEMPTS = 3
INTERRUPTED = "interrupted by shutdown; resumed on restart"


@dataclass(frozen=True)
class Job:
    id: int
    path: str
    fingerprint: str | None
    attempts: int
    # Started before (a crash or shutdown interrupted it): the source row may say failed
    # because of the interruption, so the ingest must not skip it as "unchanged, failed".
    resumed: bool


@dataclass(frozen=True)
class JobRecord:
    id: int
    path: str
    state: str
    fingerprint: str | None
    attempts: int
    enqueued: str
    started: str | None
    finished: str | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "state": self.state,
            "finished": self.finished,
            "error": self.error,
        }


_COLUMNS = "id, path, state, fingerprint, attempts, enqueued, started, finished, error"


def enqueue(index: Index, path: str, fingerprint: str | None) -> int:
    """Queue a settled drop; a drop already waiting in the queue gets the new fingerprint."""
    with index.write():
        row = index.execute(
            "SELECT id FROM jobs WHERE path = ? AND state = 'queued' ORDER BY id LIMIT 1",
            (path,),
        ).fetchone()
        if row is not None:
            index.execute("UPDATE jobs SET fingerprint = ? WHERE id = ?", (fingerprint, row[0]))
            return int(row[0])
        return index.inserted_id(
            """INSERT INTO jobs (path, state, fingerprint, enqueued) VALUES (?, 'queued', ?, ?)
               RETURNING id""",
            (path, fingerprint, utc_now_iso()),
        )


def enqueue_many(index: Index, items: Iterable[tuple[str, str | None]]) -> list[int]:
    """Queue several drops in one transaction (1,000 files dropped at once)."""
    with index.write():
        return [enqueue(index, path, fingerprint) for path, fingerprint in items]


def claim(index: Index) -> Job | None:
    """Take the oldest queued job and mark it running."""
    with index.write():
        row = index.execute(
            """SELECT id, path, fingerprint, attempts, error FROM jobs
               WHERE state = 'queued' ORDER BY id LIMIT 1"""
        ).fetchone()
        if row is None:
            return None
        job_id, path, fingerprint, attempts, error = row
        index.execute(
            """UPDATE jobs SET state = 'running', started = ?, attempts = attempts + 1,
                   error = NULL WHERE id = ?""",
            (utc_now_iso(), job_id),
        )
    return Job(
        int(job_id),
        str(path),
        fingerprint,
        int(attempts) + 1,
        resumed=int(attempts) > 0 or error is not None,
    )


def finish(index: Index, job_id: int, error: str | None = None, *, state: str = "done") -> None:
    """The drop was processed (`error` may note something, e.g. it vanished first);
    `state` is "partial" when it landed with problems."""
    _close(index, job_id, state, error)


def fail(index: Index, job_id: int, error: str) -> None:
    """The drop failed; it is not tried again until it changes."""
    _close(index, job_id, "failed", error)


def _close(index: Index, job_id: int, state: str, error: str | None) -> None:
    with index.write():
        index.execute(
            "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
            (state, utc_now_iso(), error, job_id),
        )


def release(index: Index, job_id: int) -> None:
    """Forget a job whose drop goes back to settling (it changed, or a retry waits).

    Nothing is lost: the drop is still in its folder and the next settle (or, after a
    restart, the reconcile scan) queues it again.
    """
    with index.write():
        index.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


def requeue(index: Index, job_id: int, error: str = INTERRUPTED) -> None:
    """Put an interrupted job back at its place in the queue without counting the attempt."""
    with index.write():
        index.execute(
            """UPDATE jobs SET state = 'queued',
                   attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, error = ?
               WHERE id = ?""",
            (error, job_id),
        )


def recover(index: Index, max_attempts: int = MAX_ATTEMPTS) -> tuple[int, list[str]]:
    """At start: jobs left running by a crash go back to the queue, except those that were
    running every time the daemon died `max_attempts` times. Returns (resumed, given up)."""
    with index.write():
        given_up = [
            (str(row[0]), int(row[1]))
            for row in index.execute(
                "SELECT path, attempts FROM jobs WHERE state = 'running' AND attempts >= ?",
                (max_attempts,),
            )
        ]
        now = utc_now_iso()
        for path, attempts in given_up:
            reason = (
                f"the daemon stopped {attempts} times while ingesting this drop; "
                "it is not retried until it changes"
            )
            index.execute(
                """UPDATE jobs SET state = 'failed', finished = ?, error = ?
                   WHERE state = 'running' AND path = ?""",
                (now, reason, path),
            )
            # The source row was left pending by the run that died: it failed, and says
            # why (`status` counts it failed and shows the reason).
            sources.fail_pending_source(index, path, reason)
        cursor = index.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
    return cursor.rowcount, [path for path, _ in given_up]


def latest(index: Index, path: str) -> JobRecord | None:
    row = index.execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE path = ? ORDER BY id DESC LIMIT 1", (path,)
    ).fetchone()
    return JobRecord(*row) if row else None


def queue_length(index: Index) -> int:
    """Jobs waiting or being ingested."""
    return int(index.scalar("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')") or 0)


def running_path(index: Index) -> str | None:
    """The drop being ingested, if any."""
    value = index.scalar("SELECT path FROM jobs WHERE state = 'running' ORDER BY id LIMIT 1")
    return None if value is None else str(value)


def last_finished(index: Index) -> JobRecord | None:
    """The job the daemon finished last (done, partial or failed)."""
    row = index.execute(
        f"""SELECT {_COLUMNS} FROM jobs WHERE finished IS NOT NULL
            ORDER BY finished DESC, id DESC LIMIT 1"""
    ).fetchone()
    return JobRecord(*row) if row else None
