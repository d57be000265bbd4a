"""Jobs and workers on a shared index (PostgreSQL): many `mediasyncd run` processes on
many machines, one queue.

Each worker has a row in `workers` (host, pid, heartbeat, what it does) and renews it,
with the leases of the jobs it runs, every few seconds. A job is claimed with
`SELECT … FOR UPDATE SKIP LOCKED` (two workers never take the same one, and neither
waits for the other) and a lease: a worker that dies (SIGKILL, power loss, a network
cut) stops renewing, its lease runs out, and the next worker that can read the drop takes
the job over. Which can: a job belongs to the machine whose drop folder holds it
(`jobs.host`); a NULL host is a drop every machine reads (an object store's).

Times are the database's clock (`clock_timestamp()`), so machines whose clocks disagree
still agree on whether a lease has run out. The SQLite setup has one daemon per index
and needs none of this (mediasyncd.index.jobs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from mediasyncd.index import sources
from mediasyncd.index.engine import Index, marks
from mediasyncd.index.jobs import MAX_ATTEMPTS, Job, enqueue
from mediasyncd.timeutil import utc_now_iso

NOW: Final = "extract(epoch from clock_timestamp())"


@dataclass(frozen=True)
class WorkerRow:
    id: int
    host: str
    pid: int
    since: str
    heartbeat_age: float
    lease_seconds: float
    status: str | None
    current: str | None
    progress: dict[str, Any] | None
    last_error: str | None
    stopped: str | None

    @property
    def state(self) -> str:
        """running, stopped (it said so), or dead (no heartbeat within its lease)."""
        if self.stopped is not None:
            return "dead" if self.stopped == "dead" else "stopped"
        return "running" if self.heartbeat_age <= self.lease_seconds else "dead"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "state": self.state,
            "since": self.since,
            "heartbeat_seconds_ago": round(self.heartbeat_age, 1),
            "activity": self.status,
            "current": self.current,
            "progress": self.progress,
            "last_error": self.last_error,
        }


def register(
    index: Index, *, host: str, pid: int, state_dir: str, folders: list[str], lease: float
) -> int:
    with index.write():
        return index.inserted_id(
            f"""INSERT INTO workers (host, pid, state_dir, folders, since, heartbeat_epoch,
                                    lease_seconds, status)
                VALUES (?, ?, ?, ?, ?, {NOW}, ?, 'starting') RETURNING id""",
            (host, pid, state_dir, json.dumps(folders), utc_now_iso(), lease),
        )


def heartbeat(
    index: Index,
    worker_id: int,
    *,
    status: str,
    current: str | None,
    progress: dict[str, Any] | None,
    lease: float,
) -> int:
    """Say the worker lives and what it does, and renew the leases of its running jobs;
    returns how many it holds."""
    with index.write():
        index.execute(
            f"""UPDATE workers SET heartbeat_epoch = {NOW}, status = ?, current_path = ?,
                    progress = ?, lease_seconds = ?
                WHERE id = ?""",
            (status, current, json.dumps(progress) if progress else None, lease, worker_id),
        )
        cursor = index.execute(
            f"""UPDATE jobs SET lease_epoch = {NOW} + ?
                WHERE worker_id = ? AND state = 'running'""",
            (lease, worker_id),
        )
        return cursor.rowcount


def record_error(index: Index, worker_id: int, message: str) -> None:
    with index.write():
        index.execute(
            "UPDATE workers SET last_error = ? WHERE id = ?",
            (f"{utc_now_iso()} {message}", worker_id),
        )


def stopped(index: Index, worker_id: int) -> None:
    with index.write():
        index.execute(
            "UPDATE workers SET stopped = ?, status = 'stopped', current_path = NULL, "
            "progress = NULL WHERE id = ?",
            (utc_now_iso(), worker_id),
        )


def dead_on_host(index: Index, host: str, alive: Any) -> list[int]:
    """Workers of this machine that never said they stopped and whose process is gone
    (`alive(pid)` false): they are marked dead and their jobs' leases end now, so a
    restarted worker resumes its drop at once instead of after the lease."""
    rows = index.execute(
        "SELECT id, pid FROM workers WHERE host = ? AND stopped IS NULL", (host,)
    ).fetchall()
    dead = [int(worker_id) for worker_id, pid in rows if not alive(int(pid))]
    if dead:
        with index.write():
            for worker_id in dead:
                index.execute("UPDATE workers SET stopped = 'dead' WHERE id = ?", (worker_id,))
                index.execute(
                    f"""UPDATE jobs SET lease_epoch = {NOW} - 1
                        WHERE worker_id = ? AND state = 'running'""",
                    (worker_id,),
                )
    return dead


def enqueue_many(
    index: Index, items: Iterable[tuple[str, str | None]], host: str | None
) -> list[int]:
    """Queue settled drops of `host`'s drop folders (one transaction)."""
    with index.write():
        ids = [enqueue(index, path, fingerprint) for path, fingerprint in items]
        if ids:
            index.execute(f"UPDATE jobs SET host = ? WHERE id IN ({marks(ids)})", (host, *ids))
        return ids


def claim(
    index: Index, worker_id: int, host: str, lease: float, max_attempts: int = MAX_ATTEMPTS
) -> tuple[Job | None, list[str]]:
    """Take the oldest job this machine can read that is queued, or running under a lease
    that ran out, and hold it for `lease` seconds. Returns it (None: nothing to do) and
    the drops given up meanwhile: a job whose workers died `max_attempts` times while
    running it fails (so does its source), like the SQLite daemon's crash-loop guard."""
    given_up: list[str] = []
    while True:
        with index.write():
            row = index.execute(
                f"""SELECT id, path, fingerprint, attempts, error, state, worker_id FROM jobs
                    WHERE (state = 'queued' OR (state = 'running' AND lease_epoch < {NOW}))
                    AND (host = ? OR host IS NULL)
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED""",
                (host,),
            ).fetchone()
            if row is None:
                return None, given_up
            job_id, path, fingerprint, attempts, error, state, holder = row
            if state == "running" and int(attempts) >= max_attempts:
                reason = (
                    f"the workers running this drop stopped {attempts} times; it is not "
                    "retried until it changes"
                )
                index.execute(
                    "UPDATE jobs SET state = 'failed', finished = ?, error = ? WHERE id = ?",
                    (utc_now_iso(), reason, job_id),
                )
                sources.fail_pending_source(index, str(path), reason)
                given_up.append(str(path))
                continue
            index.execute(
                f"""UPDATE jobs SET state = 'running', started = ?, attempts = attempts + 1,
                        error = ?, worker_id = ?, lease_epoch = {NOW} + ?
                    WHERE id = ?""",
                (
                    utc_now_iso(),
                    None if state == "queued" else f"taken over from worker {holder}",
                    worker_id,
                    lease,
                    job_id,
                ),
            )
        resumed = int(attempts) > 0 or error is not None or state == "running"
        return Job(int(job_id), str(path), fingerprint, int(attempts) + 1, resumed), given_up


def workers(index: Index, *, include_stopped: int = 5) -> list[WorkerRow]:
    """Every worker that has not stopped, and the last few that did, oldest first."""
    rows = index.execute(
        f"""SELECT id, host, pid, since, {NOW} - heartbeat_epoch, lease_seconds, status,
                   current_path, progress, last_error, stopped
            FROM workers
            WHERE stopped IS NULL OR id IN (
                SELECT id FROM workers WHERE stopped IS NOT NULL ORDER BY id DESC LIMIT ?)
            ORDER BY id""",
        (include_stopped,),
    ).fetchall()
    return [
        WorkerRow(
            int(r[0]),
            str(r[1]),
            int(r[2]),
            str(r[3]),
            float(r[4]),
            float(r[5]),
            r[6],
            r[7],
            json.loads(r[8]) if r[8] else None,
            r[9],
            r[10],
        )
        for r in rows
    ]
