"""`mediasyncd run`: the main loop that ties watching, settling, the queue and the worker.

Threads: watchdog's observers (they only put paths on a queue), the worker (ingests one
job at a time on its own index connection), apscheduler's one job thread, and this main
thread, which owns the settler, writes the queue and `daemon_state`, and talks to systemd.

Signals only set flags (a handler must not take locks the interrupted code may hold); the
loop wakes at least every `TICK` seconds to act on them:
- SIGTERM / SIGINT: stop watching, let the worker finish or cleanly abandon its current
  transaction (the job is resumed at the next start), exit 0;
- SIGHUP: reload the config (folders, settle time, intervals, log level); a bad config
  is logged and the old one kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from types import FrameType

from mediasyncd.app import App, default_umask
from mediasyncd.config import Config, load_config, resolve_state_dir
from mediasyncd.daemon.notify import Notifier
from mediasyncd.daemon.presence import presence_for
from mediasyncd.daemon.reconcile import DropFolder, needs_ingest, reconcile
from mediasyncd.daemon.scheduler import Maintenance
from mediasyncd.daemon.settle import Settled, Settler
from mediasyncd.daemon.watcher import Watcher, inotify_exhausted, limit_message
from mediasyncd.daemon.worker import Outcome, Worker, resolve_done_folder
from mediasyncd.errors import ConfigError
from mediasyncd.fs.pathtext import path_text
from mediasyncd.fs.tree import first_too_deep
from mediasyncd.index import Index, jobs
from mediasyncd.logconfig import configure_logging, get_logger
from mediasyncd.store import Store
from mediasyncd.store.locks import daemon_lock

log = get_logger("mediasyncd.daemon")

TICK = 0.25
FOLDER_CHECK_SECONDS = 5.0
INOTIFY_PROBE_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0
# Consecutive failed ticks (the index unusable for about a minute) before giving up.
MAX_TICK_FAILURES = 20
DEFAULT_DROP = "drop"


def drop_folders(config: Config, state_dir: Path) -> list[DropFolder]:
    """The configured drop folders, resolved; `<state>/drop` when none is configured.

    A relative folder is relative to the config file. A done folder or the state dir
    inside a drop folder is not itself a drop.
    """
    configured = config.watch.folders or [str(state_dir / DEFAULT_DROP)]
    base = config.source_path.parent if config.source_path is not None else Path.cwd()
    folders: list[DropFolder] = []
    seen: set[Path] = set()
    for text in configured:
        path = Path(text).expanduser()
        path = (path if path.is_absolute() else base / path).resolve()
        if path in seen:
            continue
        seen.add(path)
        exclude: set[Path] = set()
        candidates = [state_dir.resolve()]
        if config.watch.after_ingest == "move" and config.watch.done_folder:
            candidates.append(resolve_done_folder(path, config.watch.done_folder).resolve())
        for other in candidates:
            if other.is_relative_to(path) and other != path:
                exclude.add(path / other.relative_to(path).parts[0])
        folders.append(DropFolder(path, frozenset(exclude)))
    return folders


class _StdlibBridge(logging.Handler):
    """Routes warnings of libraries (watchdog, apscheduler) into the structured log, and
    turns watchdog's inotify overflow warning into a reconcile scan."""

    def __init__(self, daemon: Daemon):
        super().__init__(level=logging.WARNING)
        self.daemon = daemon

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "overflow" in message.lower():
            self.daemon.request_reconcile()
        log.warning("library.warning", logger=record.name, error=message)


class Daemon:
    def __init__(
        self,
        config_path: str | None,
        state_dir_arg: str | None,
        *,
        log_level: str | None = None,
    ):
        self.config_path = config_path
        self.state_dir_arg = state_dir_arg
        self.log_level = log_level
        self.app = App.load(config_path, state_dir_arg)
        self.notifier = Notifier()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._events: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._stop_requested = False
        self._reload_requested = False
        self._reconcile_requested = True
        self._retries: dict[Path, int] = {}
        self._missing: dict[Path, str] = {}
        self._last_outcome = ""
        self.folders: list[DropFolder] = []
        self._next_beat = self._next_folders = self._next_probe = 0.0

    @property
    def config(self) -> Config:
        return self.app.config

    # -- called from other threads and signal handlers ------------------------------------

    def request_reconcile(self) -> None:
        self._reconcile_requested = True
        self._wake.set()

    def _on_event(self, path: Path) -> None:
        self._events.put(path)
        self._wake.set()

    def _on_thread_crash(self, args: threading.ExceptHookArgs) -> None:
        """A library thread died (watchdog's inotify reader on a tree too deep for it):
        logged as one event, and the watches are checked (and restarted) at once."""
        name = args.thread.name if args.thread is not None else "?"
        error = f"{args.exc_type.__name__}: {args.exc_value}"
        log.error("thread.crashed", thread=name, error=error)
        self._next_folders = 0.0
        self._wake.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
        else:
            self._stop_requested = True

    # -- running ------------------------------------------------------------------------

    def run(self) -> int:
        self._configure_logging()
        default_umask()
        self.app.ensure_state_dir()
        with daemon_lock(self.app.state_dir):
            return self._run_locked()

    def _configure_logging(self) -> None:
        configure_logging(
            self.log_level or self.config.logging.level, self.config.logging.format, sys.stdout
        )

    def _run_locked(self) -> int:
        # watchdog's inotify thread warns when a new folder's subfolders appear while it
        # adds their watches (`mkdir -p`, an unzip); harmless, and noise in the journal.
        warnings.filterwarnings("ignore", "Callback with id", RuntimeWarning)
        index = self.app.index  # opens and migrates: READY=1 only after this
        store = self.app.store
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        bridge = _StdlibBridge(self)
        logging.getLogger().addHandler(bridge)
        previous_hook = threading.excepthook
        threading.excepthook = self._on_thread_crash
        self._build_parts(index, store)
        exit_code = 0
        try:
            self._start(index)
            exit_code = self._loop()
        finally:
            self._shut_down(index)
            logging.getLogger().removeHandler(bridge)
            threading.excepthook = previous_hook
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.notifier.close()
            log.info("daemon.stopped", exit_code=exit_code)
        return exit_code

    def _build_parts(self, index: Index, store: Store) -> None:
        """The settler, the watcher, the worker thread and the maintenance scheduler."""
        self.settler = Settler(
            self.config.watch.settle_seconds,
            self.config.watch.ignore,
            incomplete_zip_seconds=self.config.watch.incomplete_zip_seconds,
        )
        self.watcher = Watcher(
            self._on_event,
            poll=self.config.watch.poll,
            poll_interval=self.config.watch.poll_interval_seconds,
            max_depth=self.config.limits.max_folder_depth,
        )
        # The daemon's record in the index: the daemon_state row (SQLite), or its row
        # among the workers sharing the index and the leases of its jobs (PostgreSQL).
        self.presence = presence_for(index, self.app.state_dir, self.config.index.lease_seconds)
        self.worker = Worker(
            open_index=self.app.connect,
            claim=self.presence.claim,
            store=store,
            state_dir=self.app.state_dir,
            config=lambda: self.config,
            drop_folder_of=self._folder_of,
            outcomes=self._outcomes,
            stop=self._stop,
        )
        self.maintenance = Maintenance(
            connect=self.app.connect,
            store=store,
            config=self.config,
            state_dir=self.app.state_dir,
            request_reconcile=self.request_reconcile,
            report_error=self._report_error_threadsafe,
        )

    def _start(self, index: Index) -> None:
        """Recover the queue, say READY, and start watching and working."""
        self.folders = drop_folders(self.config, self.app.state_dir)
        since = self.presence.started("starting", [str(f.path) for f in self.folders])
        resumed, given_up = self.presence.recover()
        for path in given_up:
            record = jobs.latest(index, path)
            reason = record.error if record and record.error else "the daemon kept dying"
            log.error("job.given_up", source=path, error=reason)
            self._report_error(f"{path}: failed: {reason}")
        log.info(
            "daemon.started",
            pid=os.getpid(),
            since=since,
            state_dir=str(self.app.state_dir),
            config=str(self.config.source_path) if self.config.source_path else None,
            folders=[str(f.path) for f in self.folders],
            resumed_jobs=resumed,
        )
        self.notifier.ready(f"index open; watching {len(self.folders)} folder(s)")
        self._start_watches()
        self.worker.start()
        self.maintenance.start()

    def _shut_down(self, index: Index) -> None:
        """Stop watching and scheduling, let the worker finish or abandon its job."""
        self.notifier.stopping()
        log.info("daemon.stopping")
        self.maintenance.shutdown()
        self.watcher.stop_all()
        self._stop.set()
        self.worker.wake.set()
        if self.worker.is_alive():
            self.worker.join()
        with contextlib.suppress(Exception):
            self.presence.stopped()
        self.app.close()

    def _loop(self) -> int:
        now = time.monotonic()
        self._next_beat = now
        self._next_folders = now + FOLDER_CHECK_SECONDS
        self._next_probe = now + INOTIFY_PROBE_SECONDS
        ping_every = self.notifier.watchdog_interval
        next_ping = now
        failures = 0
        while True:
            if ping_every is not None and time.monotonic() >= next_ping:
                self.notifier.watchdog()
                next_ping = time.monotonic() + ping_every
            if self._stop_requested:
                return 0
            try:
                self._tick()
                failures = 0
            except Exception as exc:
                # A locked or unwritable index must not take the daemon down at once;
                # the next tick tries again, and a lasting failure ends in a restart.
                failures += 1
                log.exception("daemon.tick_failed", error=f"{type(exc).__name__}: {exc}")
                if failures >= MAX_TICK_FAILURES:
                    return 1
            if not self.worker.is_alive():
                error = f"the worker stopped: {self.worker.failure}"
                log.error("daemon.worker_died", error=error)
                self._report_error(error)
                return 1
            timeout = TICK if failures == 0 else min(TICK * 2**failures, 5.0)
            if len(self.settler):
                timeout = min(timeout, self.settler.check_interval)
            self._wake.wait(timeout)
            self._wake.clear()

    def _tick(self) -> None:
        if self._reload_requested:
            self._reload_requested = False
            self._reload()
        self._drain()
        if self._reconcile_requested:
            self._reconcile_requested = False
            self._reconcile()
        if len(self.settler):
            self._enqueue(self.settler.poll())
        now = time.monotonic()
        if now >= self._next_folders:
            self._next_folders = now + FOLDER_CHECK_SECONDS
            self._check_folders()
        if now >= self._next_probe:
            self._next_probe = now + INOTIFY_PROBE_SECONDS
            self._probe_inotify()
        if now >= self._next_beat:
            self._next_beat = now + self.presence.beat_seconds
            self.presence.heartbeat(self._watch_text(), self.worker.current)
            self.notifier.status(self._status_text())

    # -- the pieces of a tick -----------------------------------------------------------

    def _drain(self) -> None:
        while True:
            try:
                path = self._events.get_nowait()
            except queue.Empty:
                break
            if self._is_drop(path):
                self.settler.touch(path)
        while True:
            try:
                outcome = self._outcomes.get_nowait()
            except queue.Empty:
                break
            self._handle(outcome)

    def _is_drop(self, path: Path) -> bool:
        folder = self._drop_folder(path)
        return folder is not None and path not in folder.exclude

    def _drop_folder(self, path: Path) -> DropFolder | None:
        return next((f for f in self.folders if f.path == path.parent), None)

    def _folder_of(self, path: Path) -> Path | None:
        folder = self._drop_folder(path)
        return folder.path if folder else None

    def _handle(self, outcome: Outcome) -> None:
        self._last_outcome = f"last {outcome.result}: {path_text(outcome.path.name)}"
        if outcome.result == "retry":
            tries = self._retries.get(outcome.path, 0) + 1
            self._retries[outcome.path] = tries
            delay = min(self.config.watch.settle_seconds * 2**tries, MAX_BACKOFF_SECONDS)
            self.settler.defer(outcome.path, delay)
            self._report_error(f"{outcome.path}: {outcome.error}; retrying in {delay:.0f} s")
            return
        if outcome.result == "changed":
            self.settler.touch(outcome.path)
            return
        self._retries.pop(outcome.path, None)
        if outcome.result in ("failed", "partial") and outcome.error:
            # `status` shows the last problem, a partial drop's too; the path once.
            self._report_error(f"{outcome.path}: {outcome.result}: {outcome.error}")

    def _reconcile(self) -> None:
        started = time.monotonic()
        # A folder watched at its top level because of a deep tree: watched whole again
        # once the tree is gone (its restart scans it).
        for folder in self.watcher.too_deep_folders():
            if first_too_deep(folder, self.watcher.max_depth + 1) is None:
                self._start_watch(folder)
        watched = [f for f in self.folders if f.path not in self._missing]
        index = self.app.index
        wanted, problems = reconcile(index, watched, self.config.watch.ignore)
        for path in wanted:
            if self._is_drop(path):
                self.settler.touch(path, changed=False)
        for folder, error in problems:
            self._folder_missing(folder, error)
        log.info(
            "reconcile.done",
            folders=len(watched),
            found=len(wanted),
            seconds=round(time.monotonic() - started, 3),
        )

    def _enqueue(self, settled: list[Settled]) -> None:
        if not settled:
            return
        index = self.app.index
        with index.read():
            items = [
                (path_text(s.path), s.fingerprint)
                for s in settled
                if needs_ingest(index, s.path, s.fingerprint)
            ]
        if not items:
            return
        self.presence.enqueue(items)
        for path, _ in items:
            log.info("job.queued", source=path)
        self.worker.wake.set()

    def _start_watches(self) -> None:
        for folder in self.folders:
            self._start_watch(folder.path)

    def _start_watch(self, folder: Path, poll_reason: str | None = None) -> bool:
        if folder == self.app.state_dir / DEFAULT_DROP:
            folder.mkdir(parents=True, exist_ok=True)
        try:
            watch = self.watcher.watch(folder, poll_reason=poll_reason)
        except OSError as exc:
            self._folder_missing(folder, exc.strerror or str(exc))
            return False
        if not watch.recursive:
            self._report_error(
                f"drop folder {folder} holds a folder nested deeper than "
                f"limits.max_folder_depth ({self.watcher.max_depth}); watching only its "
                "top level until it is gone"
            )
        if self._missing.pop(folder, None) is not None:
            log.info("watch.folder_back", folder=str(folder))
            self.request_reconcile()
        return True

    def _folder_missing(self, folder: Path, error: str) -> None:
        self.watcher.unwatch(folder)
        if self._missing.get(folder) == error:
            return
        self._missing[folder] = error
        message = f"drop folder {folder}: {error}; watching for it to come back"
        log.warning("watch.folder_missing", folder=str(folder), error=error)
        self._report_error(message)

    def _check_folders(self) -> None:
        for folder in self.folders:
            watch = self.watcher.watches.get(folder.path)
            if watch is None:
                self._start_watch(folder.path)
            elif not folder.path.is_dir():
                self._folder_missing(folder.path, "No such folder")
            elif not watch.healthy():
                log.warning("watch.restarted", folder=str(folder.path), mode=watch.mode)
                if self._start_watch(folder.path):
                    self.request_reconcile()

    def _probe_inotify(self) -> None:
        folders = self.watcher.inotify_folders()
        if not folders:
            return
        err = inotify_exhausted()
        if err is None:
            return
        # Subfolders added since the start may have gone unwatched without a word from
        # watchdog: poll these folders from now on.
        message = limit_message(err)
        for folder in folders:
            log.warning("watch.inotify_limit", folder=str(folder), error=message)
            self._start_watch(folder, poll_reason=message)
        self._report_error(message)
        self.request_reconcile()

    def _reload(self) -> None:
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            # The message says it all; a traceback would only bury it.
            log.error("config.reload_failed", error=str(exc))  # noqa: TRY400
            self._report_error(f"config reload failed, the old config stays: {exc}")
            self.notifier.reloaded(self._status_text())
            return
        if resolve_state_dir(new, self.state_dir_arg) != self.app.state_dir:
            log.warning("config.state_dir_unchanged", error="a new state_dir needs a restart")
        old = self.config
        self.app.config = new
        self._configure_logging()
        self.settler.settle_seconds = new.watch.settle_seconds
        self.settler.ignore = list(new.watch.ignore)
        self.settler.incomplete_zip_seconds = new.watch.incomplete_zip_seconds
        folders = drop_folders(new, self.app.state_dir)
        restart_all = (old.watch.poll, old.watch.poll_interval_seconds) != (
            new.watch.poll,
            new.watch.poll_interval_seconds,
        )
        self.watcher.poll = new.watch.poll
        self.watcher.poll_interval = new.watch.poll_interval_seconds
        self.watcher.max_depth = new.limits.max_folder_depth
        old_paths = {f.path for f in self.folders}
        new_paths = {f.path for f in folders}
        for gone in old_paths - new_paths:
            self.watcher.unwatch(gone)
            self._missing.pop(gone, None)
        self.folders = folders
        for folder in folders:
            if restart_all or folder.path not in old_paths:
                self._start_watch(folder.path)
        self.maintenance.reconfigure(new)
        self.request_reconcile()
        log.info("config.reloaded", folders=[str(f.path) for f in folders])
        self.notifier.reloaded(self._status_text())

    # -- reporting ---------------------------------------------------------------------

    def _watch_text(self) -> str:
        """The folders and the drops settling: `status`'s `activity`. The queue and the drop
        being ingested `status` reads from the jobs table, which is always current."""
        parts = [f"watching {len(self.folders) - len(self._missing)}/{len(self.folders)} folder(s)"]
        if len(self.settler):
            parts.append(f"{len(self.settler)} settling")
        return "; ".join(parts)

    def _status_text(self) -> str:
        """systemd's STATUS= line: the activity, the queue (the drop being ingested
        included, as `status` counts it) and the current or last drop."""
        parts = [self._watch_text(), f"queue {jobs.queue_length(self.app.index)}"]
        current = self.worker.current
        if current:
            parts.append(f"ingesting {Path(current).name}")
        elif self._last_outcome:
            parts.append(self._last_outcome)
        return "; ".join(parts)

    def _report_error(self, message: str) -> None:
        with contextlib.suppress(Exception):
            self.presence.record_error(self.app.index, message)

    def _report_error_threadsafe(self, message: str) -> None:
        # Called from the scheduler thread: use its own short-lived connection.
        with contextlib.suppress(Exception):
            index = self.app.connect()
            try:
                self.presence.record_error(index, message)
            finally:
                index.close()


def run_daemon(config_path: str | None, state_dir: str | None, log_level: str | None = None) -> int:
    return Daemon(config_path, state_dir, log_level=log_level).run()
