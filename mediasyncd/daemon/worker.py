"""The worker: one thread that takes jobs from the queue and ingests them, one at a time.

One ingest at a time because SQLite has one writer and the store's disk one head; the
main loop stays free to watch, settle and answer systemd's watchdog meanwhile.

For each job: skip it if the drop is gone, hand it back to settling if it changed since
it settled, else ingest it (`Ingester.ingest_one(..., retry_failed=False)`: a drop that
failed in this version is not tried again), then apply `watch.after_ingest`. On shutdown
the ingester stops between members, the source stays pending and the job goes back to
the queue, so the next start resumes it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from mediasyncd.config import Config
from mediasyncd.coordination import locks_for
from mediasyncd.daemon.afteringest import DropChanged, move_what_was_read, remove_what_was_read
from mediasyncd.daemon.progress import DaemonProgress
from mediasyncd.export.archive import configured_dir, export_archive
from mediasyncd.fs.guard import RefusedPath
from mediasyncd.fs.pathtext import path_from_text, path_text
from mediasyncd.index import Index, engine, jobs, sources
from mediasyncd.ingest.fingerprint import fingerprint_of
from mediasyncd.ingest.pipeline import Ingester, IngestSummary
from mediasyncd.kinds import all_kinds
from mediasyncd.logconfig import get_logger
from mediasyncd.store import Store
from mediasyncd.timeutil import utc_now_iso

log = get_logger("mediasyncd.daemon")

# Consecutive index errors (not drop errors) before the worker gives up.
MAX_FAILURES = 5


@dataclass(frozen=True)
class Outcome:
    """What the main loop needs to know about a finished job."""

    path: Path
    result: str  # ok | partial | failed | retry | changed | gone | interrupted
    error: str | None = None


class Worker(threading.Thread):
    def __init__(
        self,
        *,
        open_index: Callable[[], Index],
        claim: Callable[[Index], jobs.Job | None] = jobs.claim,
        store: Store,
        state_dir: Path,
        config: Callable[[], Config],
        drop_folder_of: Callable[[Path], Path | None],
        outcomes: queue.SimpleQueue[Outcome],
        stop: threading.Event,
    ):
        super().__init__(name="mediasyncd-worker")
        self._open_index = open_index
        self._claim = claim
        self.store = store
        self.state_dir = state_dir
        self.config = config
        self.drop_folder_of = drop_folder_of
        self.outcomes = outcomes
        self.stop = stop
        self.wake = threading.Event()
        self.current: str | None = None
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            index = self._open_index()
        except BaseException as exc:
            self.failure = exc
            log.exception("worker.failed", error=str(exc))
            return
        failures = 0
        try:
            while not self.stop.is_set():
                self.wake.clear()
                try:
                    job = self._claim(index)
                    if job is None:
                        self.wake.wait(timeout=1.0)
                        continue
                    self._process(index, job)
                    failures = 0
                except Exception as exc:
                    # Only the index failing gets here (a job's own errors are caught in
                    # _ingest): a lock held too long is retried after a pause; a lasting
                    # failure stops the worker, and the daemon exits for a restart. A job
                    # left running is resumed at the next start.
                    failures += 1
                    log.exception("worker.index_error", error=f"{type(exc).__name__}: {exc}")
                    if failures >= MAX_FAILURES:
                        raise
                    self.stop.wait(min(2.0**failures, 30.0))
        except BaseException as exc:
            self.failure = exc
            log.exception("worker.failed", error=str(exc))
        finally:
            index.close()

    def _process(self, index: Index, job: jobs.Job) -> None:
        path = path_from_text(job.path)
        self.current = job.path
        try:
            with structlog.contextvars.bound_contextvars(source=job.path, job=job.id):
                outcome = self._ingest(index, job, path)
        finally:
            self.current = None
        self.outcomes.put(outcome)

    def _ingest(self, index: Index, job: jobs.Job, path: Path) -> Outcome:
        early = self._still_wanted(index, job, path)
        if early is not None:
            return early
        config = self.config()
        summary = IngestSummary()
        log.info("job.started", attempt=job.attempts, resumed=job.resumed)
        try:
            with locks_for(index, self.state_dir).ingest(exclusive=False):
                progress = DaemonProgress(self.state_dir, config.logging.progress_interval_seconds)
                ingester = Ingester(
                    index,
                    self.store,
                    config,
                    self.state_dir,
                    progress=progress,
                    should_stop=self.stop.is_set,
                )
                state = ingester.ingest_one(path, summary, retry_failed=job.resumed)
        except engine.OPERATIONAL_ERRORS as exc:
            # The index was locked too long or could not be written: not the drop's fault.
            locked = f"index error: {exc}"
            log.warning("job.retry", error=locked)
            jobs.release(index, job.id)
            return Outcome(path, "retry", locked)
        except Exception as exc:
            # A bug in a reader on one drop must not stop the daemon;
            # the drop is failed in this version and not retried until it changes.
            crash = f"{type(exc).__name__}: {exc}"
            log.exception("job.failed", error=crash)
            jobs.fail(index, job.id, crash)
            with index.write():
                sources.fail_pending_source(index, str(path.absolute()), crash)
            return Outcome(path, "failed", crash)
        return self._close_job(index, job, path, state, summary, config)

    def _still_wanted(self, index: Index, job: jobs.Job, path: Path) -> Outcome | None:
        """None when the drop is still the one that settled; else how the job ended."""
        try:
            fingerprint, _ = fingerprint_of(path)
        except RefusedPath as exc:
            # Swapped for a link, a FIFO or a device after it settled: never opened.
            refused = f"{path_text(path)}: {exc.strerror}"
            jobs.fail(index, job.id, refused)
            log.warning("job.refused", reason=exc.strerror)
            return Outcome(path, "failed", refused)
        except OSError:
            jobs.finish(index, job.id, error="gone before its turn; skipped")
            log.info("job.skipped", reason="gone before its turn")
            return Outcome(path, "gone")
        if job.fingerprint is not None and fingerprint != job.fingerprint:
            jobs.release(index, job.id)
            log.info("job.released", reason="changed after it settled; settling again")
            return Outcome(path, "changed")
        return None

    def _close_job(
        self,
        index: Index,
        job: jobs.Job,
        path: Path,
        state: str,
        summary: IngestSummary,
        config: Config,
    ) -> Outcome:
        """The job row after the ingest ended in `state`, and what the main loop hears."""
        error = _error_of(index, path, summary)
        if state not in ("ok", "partial") and self.stop.is_set():
            jobs.requeue(index, job.id)
            log.info("job.interrupted", state=state)
            return Outcome(path, "interrupted")
        if state == "pending":
            # Changed while read (repeatedly) or the store could not write (disk full):
            # not the drop's fault, so it is tried again after a backoff.
            jobs.release(index, job.id)
            log.warning("job.retry", error=error)
            return Outcome(path, "retry", error)
        if state == "failed":
            jobs.fail(index, job.id, error or "failed")
            log.error("job.failed", error=error, **_problems_of(summary))
            return Outcome(path, "failed", error)
        if state == "partial":
            # Stored, but not all of it: say what, and keep the drop (it is the only
            # copy of what could not be read) whatever watch.after_ingest says.
            jobs.finish(index, job.id, error=error, state="partial")
            log.warning("job.partial", error=error, **_problems_of(summary))
            self._refresh_export(index, config, summary)
            return Outcome(path, "partial", error)
        note, changed = self._after_ingest(index, path, config)
        jobs.finish(index, job.id, error=note)
        self._refresh_export(index, config, summary)
        if changed:
            # It changed after it was read: the new version settles and lands in turn.
            return Outcome(path, "changed", note)
        log.info(
            "job.done",
            blobs_new=summary.blobs_new,
            bytes_new=summary.bytes_new,
            blobs_deduplicated=summary.blobs_deduplicated,
            **{name: summary.counts[name] for kind in all_kinds() for name in kind.counters},
            matches_added=summary.matches_added,
            skipped_members=len(summary.failures),
            after_ingest=config.watch.after_ingest,
        )
        return Outcome(path, "ok", note)

    # -- export ------------------------------------------------------------------------

    def _refresh_export(self, index: Index, config: Config, summary: IngestSummary) -> None:
        """Keep `export.dir` in sync: only conversations that changed are rewritten."""
        out_dir = configured_dir(config)
        if out_dir is None:
            return
        if not summary.changed:
            return
        try:
            result = export_archive(index, self.store, config, out_dir, state_dir=self.state_dir)
        except Exception as exc:  # noqa: BLE001 - logged; the export is retried next ingest
            # An export problem (a full disk, a folder in the way) must not stop ingesting.
            log.warning(
                "export.failed", export_dir=str(out_dir), error=f"{type(exc).__name__}: {exc}"
            )
            return
        log.info("export.refreshed", export_dir=str(out_dir), summary=str(result))

    # -- after_ingest ------------------------------------------------------------------

    def _after_ingest(self, index: Index, path: Path, config: Config) -> tuple[str | None, bool]:
        """keep / move / delete a drop that landed: a note for the job row, and whether
        the drop changed since the ingest read it (then it is kept, to be read again)."""
        action = config.watch.after_ingest
        if action == "keep":
            return None, False
        if action == "delete" and not (config.store.fsync and config.index.synchronous == "FULL"):
            # Without fsync the objects may not survive a power cut: the drop is the
            # only durable copy, so it stays.
            log.warning(
                "after_ingest.kept",
                reason="delete needs store.fsync = true and index.synchronous = 'FULL'",
            )
            return "kept: delete needs store.fsync and synchronous FULL", False
        read = _read_fingerprint(index, path)
        try:
            if action == "move":
                target = self._move(path, config, read)
                _rename_source(index, path, path_text(target))
                log.info("after_ingest.moved", to=path_text(target))
                return f"moved to {path_text(target)}", False
            kept = remove_what_was_read(path, read, config.limits.max_folder_depth)
            # The source keeps its rows under a name that says so: a later drop with the
            # same name is a new source and must not replace what this one brought.
            _rename_source(index, path, f"{path_text(path)} (deleted {utc_now_iso()})")
            log.info("after_ingest.deleted", kept=kept)
            return (
                f"deleted after ingest; kept {kept} entries not read"
                if kept
                else "deleted after ingest"
            ), False
        except DropChanged as exc:
            log.warning("after_ingest.kept", reason=str(exc))
            return f"kept: {exc}", True
        except OSError as exc:
            log.warning("after_ingest.failed", action=action, error=str(exc))
            return f"{action} failed: {exc}", False

    def _move(self, path: Path, config: Config, read: str | None) -> Path:
        folder = self.drop_folder_of(path) or path.parent
        done = resolve_done_folder(folder, config.watch.done_folder)
        return move_what_was_read(path, read, done, folder, self.state_dir)


def resolve_done_folder(drop_folder: Path, done_folder: str) -> Path:
    """`watch.done_folder`: absolute, or relative to the drop folder the drop came from."""
    done = Path(done_folder).expanduser()
    return done if done.is_absolute() else drop_folder / done


def _read_fingerprint(index: Index, path: Path) -> str | None:
    """The fingerprint of the version of the drop the ingest read (its source row)."""
    return sources.fingerprint_at(index, path_text(path.absolute()))


def _rename_source(index: Index, old: Path, new: str) -> None:
    with index.write():
        # If a source already has the new name, the old row keeps its name.
        sources.rename_source(index, path_text(old.absolute()), new)


# Problems named in a job.partial / job.failed event; the index keeps them all.
LOGGED_PROBLEMS = 20


def _problems_of(summary: IngestSummary) -> dict[str, object]:
    """The event fields naming a drop's problems (from its `sources[]` record)."""
    problems = [p for source in summary.sources for p in source.get("problems") or []]
    return {"problem_count": len(problems), "problems": problems[:LOGGED_PROBLEMS]}


def _error_of(index: Index, path: Path, summary: IngestSummary) -> str | None:
    """What the source row says went wrong (its problems, or why it failed), else the
    first failure of this attempt; never the path itself, which the job row names."""
    error = sources.error_at(index, path_text(path.absolute()))
    if error:
        # The source row's summary of its problems ("N problems; first: member: error");
        # it never repeats the path, which the job row and the log name already.
        return error
    if summary.failures:
        failure = summary.failures[0]
        return f"{failure.member}: {failure.error}" if failure.member else failure.error
    return None
