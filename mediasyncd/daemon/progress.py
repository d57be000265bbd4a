"""The daemon's view of the ingest it runs: published for `status`, logged now and then.

`status` reads the published file (`daemon.progress`, see progress_file); the log gets
an `ingest.progress` event every `logging.progress_interval_seconds`, so journald sees a
long ingest move without a line per member.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from mediasyncd.daemon.progress_file import clear_progress, publish_progress
from mediasyncd.ingest.progress import Throttle, TrackingProgress
from mediasyncd.logconfig import get_logger

log = get_logger("mediasyncd.daemon")

# The published file is rewritten at most this often (status needs no more).
PUBLISH_SECONDS = 1.0


class DaemonProgress(TrackingProgress):
    def __init__(
        self,
        state_dir: Path,
        log_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(clock)
        self.state_dir = state_dir
        self._publish = Throttle(min(PUBLISH_SECONDS, log_interval), clock)
        self._log = Throttle(log_interval, clock)

    def changed(self, *, phase_changed: bool) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        if phase_changed:
            self._publish.reset()
            self._log.reset()
        elif not self._publish.due():
            return
        data = snapshot.to_json()
        # Progress is a courtesy: a full disk must not fail the ingest over it.
        with contextlib.suppress(OSError):
            publish_progress(self.state_dir, data)
        if phase_changed or self._log.due():
            log.info("ingest.progress", **{k: v for k, v in data.items() if k != "path"})

    def finished(self) -> None:
        with contextlib.suppress(OSError):
            clear_progress(self.state_dir)
