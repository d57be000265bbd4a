"""How far an ingest is: bytes of the drop read, the phase, the rate and the time left.

`TrackingProgress` keeps that picture as the ingester reports it; the CLI draws it (a bar
on a terminal, a line now and then otherwise) and the daemon publishes it for `status`
and its log. Bytes are bytes of the drop as it lies on disk (a zip's compressed size),
so `bytes_done` never passes `bytes_total`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediasyncd.timeutil import epoch_to_iso

# The phases of a source, as Progress.phase is told them.
HASHING = "hashing"
MATCHING = "matching"
_READS = {
    "chatgpt_export": "conversations",
    "privacy_archive": "conversations",
    "langfuse": "traces",
    "image_dump": "images",
}


def reading_phase(kind: str) -> str:
    """`reading conversations`, `reading traces`, ...: interpreting what was stored."""
    return f"reading {_READS.get(kind, 'documents')}"


class Progress:
    """What the ingester tells the CLI's progress display and the daemon; silent by
    default."""

    def source_started(self, path: Path, total_bytes: int | None) -> None:
        """A source begins; total_bytes is its size on disk (a folder's files summed)."""

    def advance(self, done_bytes: int, member: str) -> None:
        """`done_bytes` of the drop are read, up to `member`."""

    def phase(self, name: str) -> None:
        """The source moves on: hashing (the first), reading ..., matching."""

    def waiting(self, path: Path, holder: int | None) -> None:
        """Another writer (pid `holder`, when known) ingests this source; this one waits."""

    def source_finished(self, path: Path) -> None:
        """The source is done (ok or failed)."""


@dataclass(frozen=True)
class Snapshot:
    """One look at an ingest in progress."""

    path: str
    phase: str
    bytes_done: int
    bytes_total: int | None
    started: float  # epoch seconds
    elapsed_seconds: float
    # Bytes per second while hashing (None until something was read).
    rate: float | None
    # Seconds left for the hashing phase; None once hashing is done or when unknown.
    eta_seconds: float | None

    @property
    def fraction(self) -> float | None:
        if not self.bytes_total:
            return None
        return min(1.0, self.bytes_done / self.bytes_total)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "phase": self.phase,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "rate_bytes_per_second": None if self.rate is None else round(self.rate),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "started": epoch_to_iso(self.started),
            "elapsed_seconds": round(self.elapsed_seconds, 1),
        }


class TrackingProgress(Progress):
    """Keeps the current source's progress; `changed()` runs after every report."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._path: str | None = None
        self._phase = HASHING
        self._done = 0
        self._total: int | None = None
        self._started_at = 0.0
        self._started_epoch = 0.0
        self._hashing_seconds: float | None = None

    # -- what the ingester reports -----------------------------------------------------

    def source_started(self, path: Path, total_bytes: int | None) -> None:
        self._path = str(path.absolute())
        self._phase = HASHING
        self._done = 0
        self._total = total_bytes
        self._started_at = self._clock()
        self._started_epoch = time.time()
        self._hashing_seconds = None
        self.changed(phase_changed=True)

    def advance(self, done_bytes: int, member: str) -> None:
        if self._path is None:
            return
        # Never past the total: a drop read to its end is 100 %, not more.
        self._done = max(self._done, min(done_bytes, self._total or done_bytes))
        self.changed(phase_changed=False)

    def phase(self, name: str) -> None:
        if self._path is None or name == self._phase:
            return
        if self._phase == HASHING:
            self._hashing_seconds = self._clock() - self._started_at
            if self._total is not None:
                self._done = self._total
        self._phase = name
        self.changed(phase_changed=True)

    def source_finished(self, path: Path) -> None:
        self._path = None
        self.finished()

    # -- what readers see --------------------------------------------------------------

    def snapshot(self) -> Snapshot | None:
        if self._path is None:
            return None
        elapsed = self._clock() - self._started_at
        hashing = self._hashing_seconds if self._hashing_seconds is not None else elapsed
        rate = self._done / hashing if hashing > 0 and self._done > 0 else None
        eta = None
        if self._phase == HASHING and rate and self._total is not None:
            eta = max(0.0, (self._total - self._done) / rate)
        return Snapshot(
            path=self._path,
            phase=self._phase,
            bytes_done=self._done,
            bytes_total=self._total,
            started=self._started_epoch,
            elapsed_seconds=elapsed,
            rate=rate,
            eta_seconds=eta,
        )

    def changed(self, *, phase_changed: bool) -> None:
        """Called after each report; subclasses draw or publish (and rate-limit)."""

    def finished(self) -> None:
        """The source is done; subclasses clear what they drew or published."""


class Throttle:
    """True at most once per `interval` seconds (the first time only after one interval)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._last = clock()

    def reset(self) -> None:
        self._last = self._clock()

    def due(self) -> bool:
        now = self._clock()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True
