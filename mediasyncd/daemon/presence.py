"""The daemon's record in the index, and how its worker gets jobs.

- SQLite (`LocalPresence`): one daemon per index, the `daemon_state` row, and jobs left
  running by a crash go back to the queue at start (mediasyncd.index.jobs).
- PostgreSQL (`SharedPresence`): one of many workers. Its own `workers` row and
  heartbeat, jobs claimed under a lease renewed by every heartbeat
  (mediasyncd.index.leases), and, for as long as it runs, a shared advisory lock that
  makes `reindex` refuse (mediasyncd.index.advisory).

The main loop calls `started`, `recover`, `heartbeat`, `record_error` and `stopped` on its
own connection; the worker thread calls `claim` on its own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mediasyncd.daemon.progress_file import read_progress
from mediasyncd.index import Index, advisory, daemon_state, jobs, leases
from mediasyncd.logconfig import get_logger
from mediasyncd.process import pid_alive
from mediasyncd.store.locks import AlreadyRunning

log = get_logger("mediasyncd.daemon")

# How often the main loop says it lives (and, shared, renews its leases).
HEARTBEAT_SECONDS = 5.0


class Presence(Protocol):
    @property
    def beat_seconds(self) -> float: ...

    def started(self, status: str, folders: list[str]) -> str: ...

    def recover(self) -> tuple[int, list[str]]: ...

    def heartbeat(self, status: str, current: str | None) -> None: ...

    def record_error(self, index: Index, message: str) -> None: ...

    def stopped(self) -> None: ...

    def enqueue(self, items: Sequence[tuple[str, str | None]]) -> list[int]: ...

    def claim(self, index: Index) -> jobs.Job | None: ...


class LocalPresence:
    """SQLite: the `daemon_state` row and today's queue."""

    beat_seconds = HEARTBEAT_SECONDS

    def __init__(self, index: Index):
        self.index = index

    def started(self, status: str, folders: list[str]) -> str:
        return daemon_state.started(self.index, status)

    def recover(self) -> tuple[int, list[str]]:
        return jobs.recover(self.index)

    def heartbeat(self, status: str, current: str | None) -> None:
        daemon_state.heartbeat(self.index, status)

    def record_error(self, index: Index, message: str) -> None:
        daemon_state.record_error(index, message)

    def stopped(self) -> None:
        daemon_state.stopped(self.index)

    def enqueue(self, items: Sequence[tuple[str, str | None]]) -> list[int]:
        return jobs.enqueue_many(self.index, items)

    def claim(self, index: Index) -> jobs.Job | None:
        return jobs.claim(index)


class SharedPresence:
    """PostgreSQL: one worker among many."""

    def __init__(self, index: Index, state_dir: Path, lease_seconds: float):
        self.index = index
        self.state_dir = state_dir
        self.lease = lease_seconds
        self.host = socket.gethostname()
        self.worker_id: int | None = None
        # A lease must outlive a few missed beats of a loaded machine.
        self.beat_seconds = min(HEARTBEAT_SECONDS, lease_seconds / 4)

    def started(self, status: str, folders: list[str]) -> str:
        if not advisory.try_lock(self.index, advisory.DAEMON, shared=True):
            raise AlreadyRunning(
                "a reindex is rebuilding the shared index; start the daemon when it is done"
            )
        self.worker_id = leases.register(
            self.index,
            host=self.host,
            pid=os.getpid(),
            state_dir=str(self.state_dir),
            folders=folders,
            lease=self.lease,
        )
        log.info("worker.registered", worker=self.worker_id, host=self.host)
        rows = leases.workers(self.index, include_stopped=0)
        return next(row.since for row in rows if row.id == self.worker_id)

    def recover(self) -> tuple[int, list[str]]:
        """Workers of this machine that died: their jobs are taken over now, not after
        their leases (the next claim does it; those that kept dying fail then)."""
        dead = leases.dead_on_host(self.index, self.host, pid_alive)
        if dead:
            log.info("worker.dead_found", workers=dead)
        return len(dead), []

    def heartbeat(self, status: str, current: str | None) -> None:
        if self.worker_id is None:
            return
        progress = read_progress(self.state_dir) if current else None
        leases.heartbeat(
            self.index,
            self.worker_id,
            status=status,
            current=current,
            progress=progress,
            lease=self.lease,
        )

    def record_error(self, index: Index, message: str) -> None:
        if self.worker_id is not None:
            leases.record_error(index, self.worker_id, message)

    def stopped(self) -> None:
        if self.worker_id is not None:
            leases.stopped(self.index, self.worker_id)
        advisory.unlock(self.index, advisory.DAEMON, shared=True)

    def enqueue(self, items: Sequence[tuple[str, str | None]]) -> list[int]:
        return leases.enqueue_many(self.index, items, self.host)

    def claim(self, index: Index) -> jobs.Job | None:
        if self.worker_id is None:
            return None
        job, given_up = leases.claim(index, self.worker_id, self.host, self.lease)
        for path in given_up:
            log.error("job.given_up", source=path, error="the workers running it kept dying")
            self.record_error(index, f"{path}: failed: the workers running it kept dying")
        if job is not None and job.resumed:
            log.info("job.resumed", source=job.path, job=job.id)
        return job


def presence_for(index: Index, state_dir: Path, lease_seconds: float) -> Presence:
    if index.shared:
        return SharedPresence(index, state_dir, lease_seconds)
    return LocalPresence(index)
