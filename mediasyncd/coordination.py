"""The locks that keep writers apart, for the index in use.

With SQLite the writers are processes of one machine sharing one state dir, and the locks
are flock(2) files in it (mediasyncd.store.locks). With PostgreSQL the writers are
workers on many machines, each with a state dir of its own, so the locks that guard
shared data are the database's advisory locks (mediasyncd.index.advisory):

- `ingest(exclusive=False)` around each ingest, `ingest(exclusive=True)` for gc: gc
  never removes an object an ingest on any machine is about to name;
- `source(path)`: one writer per source, whichever machine it runs on;
- `sole_writer()`: `reindex` refuses while a daemon or an ingest runs anywhere.

One daemon per state dir stays a file lock (`daemon_lock`): the state dir is local.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from mediasyncd.index import Index, advisory
from mediasyncd.store import locks as file_locks
from mediasyncd.store.locks import GcBusy, Interrupted, ReindexRefused


class Locks(Protocol):
    def ingest(
        self, *, exclusive: bool, wait: float | None = None
    ) -> contextlib.AbstractContextManager[None]: ...

    def source(
        self,
        source: str,
        *,
        on_wait: Callable[[int | None], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> contextlib.AbstractContextManager[None]: ...

    def sole_writer(self, command: str = "reindex") -> contextlib.AbstractContextManager[None]: ...


class FileLocks:
    """flock(2) files in the state dir (SQLite: one machine)."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir

    def ingest(
        self, *, exclusive: bool, wait: float | None = None
    ) -> contextlib.AbstractContextManager[None]:
        return file_locks.ingest_lock(self.state_dir, exclusive=exclusive, wait=wait)

    def source(
        self,
        source: str,
        *,
        on_wait: Callable[[int | None], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> contextlib.AbstractContextManager[None]:
        return file_locks.source_lock(
            self.state_dir, source, on_wait=on_wait, should_stop=should_stop
        )

    def sole_writer(self, command: str = "reindex") -> contextlib.AbstractContextManager[None]:
        return file_locks.sole_writer(self.state_dir, command)


class AdvisoryLocks:
    """Session-level advisory locks on `index`'s connection (PostgreSQL: many machines).
    The connection must stay open while a lock is held; closing it releases them all."""

    def __init__(self, index: Index, where: str):
        self.index = index
        self.where = where

    @contextlib.contextmanager
    def ingest(self, *, exclusive: bool, wait: float | None = None) -> Iterator[None]:
        shared = not exclusive
        deadline = None if wait is None else time.monotonic() + wait
        while not advisory.try_lock(self.index, advisory.INGEST, shared=shared):
            if deadline is not None and time.monotonic() >= deadline:
                raise GcBusy(
                    f"an ingest is running on a worker of the index at {self.where}; try "
                    "again when it is done"
                )
            time.sleep(file_locks.POLL_SECONDS)
        try:
            yield
        finally:
            advisory.unlock(self.index, advisory.INGEST, shared=shared)

    @contextlib.contextmanager
    def source(
        self,
        source: str,
        *,
        on_wait: Callable[[int | None], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[None]:
        key = advisory.source_key(source)
        waited = False
        while not advisory.try_lock(self.index, key):
            if not waited:
                waited = True
                if on_wait is not None:
                    on_wait(advisory.holder_pid(self.index, key))
            if should_stop is not None and should_stop():
                raise Interrupted
            time.sleep(file_locks.POLL_SECONDS)
        try:
            yield
        finally:
            advisory.unlock(self.index, key)

    @contextlib.contextmanager
    def sole_writer(self, command: str = "reindex") -> Iterator[None]:
        taken: list[tuple[int, int]] = []
        refusals = (
            (
                advisory.DAEMON,
                f"a daemon is running on the index at {self.where}; stop every "
                f"`mediasyncd run` that uses it first, then run {command}",
            ),
            (
                advisory.INGEST,
                f"an ingest is running on the index at {self.where}; let it finish, then "
                f"run {command}",
            ),
        )
        try:
            for key, busy in refusals:
                if not advisory.try_lock(self.index, key):
                    raise ReindexRefused(busy)
                taken.append(key)
            yield
        finally:
            for key in reversed(taken):
                advisory.unlock(self.index, key)


def locks_for(index: Index, state_dir: Path) -> Locks:
    """The locks for writers of `index` (whose connection holds advisory ones)."""
    if index.shared:
        return AdvisoryLocks(index, getattr(index, "url", "the shared index"))
    return FileLocks(state_dir)
