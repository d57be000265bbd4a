"""Periodic jobs on an apscheduler 3 BackgroundScheduler (one worker thread, runs coalesced):

- reconcile: asks the main loop for a full scan of the drop folders (the safety net for
  missed events and inotify overflow);
- scrub: re-hashes one slice of the store per run, so that the whole store is covered
  once every `daemon.scrub_period_days` (restic's `check --read-data-subset=n/t`). Digests
  are uniform, so slice k of n is the digests whose first 32 bits fall in the k-th n-th
  of the range: no state to keep, and a restart simply continues with the next slice;
- checkpoint: folds the SQLite WAL back into the database, and truncates it when no
  reader needs it (a PASSIVE checkpoint never blocks the ingest);
- gc: only when `daemon.gc_enabled`; takes the ingest lock so it never races an ingest;
- s3-poll: only when `watch.s3` names prefixes; polls them at start and every
  `watch.s3_poll_interval_seconds` for new objects (mediasyncd.s3.watch).

Each job opens its own index connection: a connection belongs to one thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from mediasyncd.config import Config
from mediasyncd.coordination import locks_for
from mediasyncd.index import Index, objects
from mediasyncd.logconfig import get_logger
from mediasyncd.store import Store
from mediasyncd.store.gc import collect_garbage
from mediasyncd.store.locks import GcBusy
from mediasyncd.store.verify import VerifyReport, verify_store

log = get_logger("mediasyncd.daemon")

_SPACE = 1 << 32
# A checkpoint may wait this long for readers; writers wait for it, so keep it short.
CHECKPOINT_BUSY_MS = 2000
GC_WAIT_SECONDS = 60.0


def scrub_slice_count(interval_seconds: float, period_days: float) -> int:
    return max(1, math.ceil(period_days * 86400 / max(interval_seconds, 1e-3)))


def slice_bounds(k: int, n: int) -> tuple[str, str | None]:
    """The digest range [lo, hi) of slice k of n (hi None: to the end)."""
    lo = k * _SPACE // n
    hi = (k + 1) * _SPACE // n
    return f"{lo:08x}", (f"{hi:08x}" if k + 1 < n else None)


def slice_digests(index: Index, k: int, n: int) -> list[str]:
    lo, hi = slice_bounds(k, n)
    return objects.blob_digests(index, lo, hi)


class _Stopped(Exception):
    """Raised from verify's progress callback to abandon a scrub at shutdown."""


class Maintenance:
    """The scheduler and its jobs. `start()` / `shutdown()` from the main thread."""

    def __init__(
        self,
        *,
        connect: Callable[..., Index],
        store: Store,
        config: Config,
        state_dir: Path,
        request_reconcile: Callable[[], None],
        report_error: Callable[[str], None],
    ):
        self.connect = connect
        self.store = store
        self.config = config
        self.state_dir = state_dir
        self.request_reconcile = request_reconcile
        self.report_error = report_error
        self._stop = threading.Event()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._next_slice: int | None = None

    def start(self) -> None:
        self._add_jobs()
        self._scheduler.start()

    def reconfigure(self, config: Config) -> None:
        """New intervals after a config reload."""
        self.config = config
        self._scheduler.remove_all_jobs()
        self._add_jobs()

    def shutdown(self) -> None:
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def _add_jobs(self) -> None:
        d = self.config.daemon
        self._every("reconcile", d.reconcile_interval_seconds, self.request_reconcile)
        self._every("scrub", d.scrub_interval_seconds, self._guarded(self.scrub_once))
        self._every("checkpoint", d.checkpoint_interval_seconds, self._guarded(self.checkpoint))
        if d.gc_enabled:
            self._every("gc", d.gc_interval_seconds, self._guarded(self.gc_once))
        if self.config.watch.s3:
            self._every(
                "s3-poll",
                self.config.watch.s3_poll_interval_seconds,
                self._guarded(self.poll_s3),
                at_start=True,
            )

    def _every(
        self, name: str, seconds: float, func: Callable[[], Any], *, at_start: bool = False
    ) -> None:
        if seconds <= 0:
            return  # 0 turns a job off
        first = {"next_run_time": datetime.now(UTC)} if at_start else {}
        self._scheduler.add_job(func, "interval", seconds=seconds, id=name, name=name, **first)

    def _guarded(self, func: Callable[[], Any]) -> Callable[[], None]:
        """A job's failure is logged and reported; it never stops the scheduler."""

        def run() -> None:
            try:
                func()
            except _Stopped:
                log.info("maintenance.abandoned", job=func.__name__)
            except Exception as exc:
                log.exception("maintenance.failed", job=func.__name__, error=str(exc))
                self.report_error(f"{func.__name__}: {exc}")

        return run

    def _open(self, busy_timeout_ms: int | None = None) -> Index:
        return self.connect(busy_timeout_ms=busy_timeout_ms)

    # -- the jobs ---------------------------------------------------------------------

    def scrub_once(self) -> VerifyReport:
        d = self.config.daemon
        n = scrub_slice_count(d.scrub_interval_seconds, d.scrub_period_days)
        if self._next_slice is None or self._next_slice >= n:
            # Seeded from the clock, so a restart continues the rotation instead of
            # re-checking slice 0 every time.
            self._next_slice = int(time.time() // max(d.scrub_interval_seconds, 1e-3)) % n
        k = self._next_slice
        self._next_slice = (k + 1) % n
        index = self._open()
        try:
            digests = slice_digests(index, k, n)

            def progress(_checked: int) -> None:
                if self._stop.is_set():
                    raise _Stopped

            report = verify_store(index, self.store, digests=digests, on_object=progress)
        finally:
            index.close()
        for problem in report.problems:
            log.error(
                "scrub.problem",
                digest=problem.digest,
                path=problem.path,
                kind=problem.kind,
                error=problem.detail,
                quarantined_to=problem.quarantined_to,
                redrop=problem.redrop,
            )
        if report.problems:
            first = report.problems[0]
            self.report_error(
                f"scrub found {len(report.problems)} damaged object(s), first "
                f"{first.digest} ({first.kind}); run `mediasyncd verify`"
            )
        log.info(
            "scrub.done",
            slice=k,
            slices=n,
            checked=report.checked,
            bytes_checked=report.bytes_checked,
            problems=len(report.problems),
        )
        return report

    def checkpoint(self) -> tuple[int, int, int]:
        index = self._open(CHECKPOINT_BUSY_MS)
        try:
            busy, frames, done = index.checkpoint("PASSIVE")
            if not busy and frames == done and frames > 0:
                # Everything is in the database: shrink the WAL file if no reader holds it.
                busy, frames, done = index.checkpoint("TRUNCATE")
        finally:
            index.close()
        log.info("checkpoint.done", busy=busy, wal_frames=frames, checkpointed=done)
        return busy, frames, done

    def poll_s3(self) -> None:
        from mediasyncd.s3.watch import poll_watched

        poll_watched(
            connect=self._open,
            store=self.store,
            config=self.config,
            state_dir=self.state_dir,
            should_stop=self._stop.is_set,
            report_error=self.report_error,
        )

    def gc_once(self) -> None:
        index = self._open()
        try:
            with locks_for(index, self.state_dir).ingest(exclusive=True, wait=GC_WAIT_SECONDS):
                collect_garbage(
                    index,
                    self.store,
                    grace_seconds=self.config.daemon.gc_grace_seconds,
                    should_stop=self._stop.is_set,
                    keep_document_versions=self.config.gc.keep_document_versions,
                )
        except GcBusy as exc:
            log.info("gc.postponed", error=str(exc))
        finally:
            index.close()
