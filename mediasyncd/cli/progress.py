"""How `mediasyncd ingest` shows a long ingest: a bar on a terminal, a line now and then
on stderr otherwise (a log file, a CI job, a pipe)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from mediasyncd.cli.words import describe_progress
from mediasyncd.ingest.progress import HASHING, Throttle, TrackingProgress

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

# Variables with which rich treats a stream that is no terminal as one.
_FORCING_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


class RichIngestProgress(TrackingProgress):
    """The terminal bar: bytes of the drop read, of its size on disk, then the phase."""

    def __init__(self, console: Console | None = None) -> None:
        # rich costs about 40 ms to import: only a terminal bar pays it.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        super().__init__()
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=True,
        )
        self._task: TaskID | None = None
        self._name = ""

    def __enter__(self) -> RichIngestProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def source_started(self, path: Path, total_bytes: int | None) -> None:
        self._name = path.name[:40]
        self._task = self._bar.add_task(self._name, total=total_bytes)
        super().source_started(path, total_bytes)

    def changed(self, *, phase_changed: bool) -> None:
        snapshot = self.snapshot()
        if self._task is None or snapshot is None:
            return
        description = self._name
        if snapshot.phase != HASHING:
            description = f"{self._name}: {snapshot.phase}"
        self._bar.update(self._task, completed=snapshot.bytes_done, description=description)
        if phase_changed:
            # Drawn now, not at the next tick: a quick phase would never be seen.
            self._bar.refresh()

    def waiting(self, path: Path, holder: int | None) -> None:
        self._bar.console.print(waiting_line(path, holder), highlight=False)

    def finished(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None


class LineProgress(TrackingProgress):
    """Without a terminal: `ingesting NAME: hashing 1.2 GiB of 3.4 GiB (35 %), ...` every
    `interval` seconds, the first after one interval (a short ingest prints nothing)."""

    def __init__(self, interval: float, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream or sys.stderr
        self._throttle = Throttle(interval)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def source_started(self, path: Path, total_bytes: int | None) -> None:
        self._throttle.reset()
        super().source_started(path, total_bytes)

    def waiting(self, path: Path, holder: int | None) -> None:
        # At once, not throttled: a command that sits silent looks hung.
        self._stream.write(waiting_line(path, holder) + "\n")
        self._stream.flush()

    def changed(self, *, phase_changed: bool) -> None:
        if not self._throttle.due():
            return
        snapshot = self.snapshot()
        if snapshot is None:
            return
        name = Path(snapshot.path).name
        self._stream.write(f"ingesting {name}: {describe_progress(snapshot.to_json())}\n")
        self._stream.flush()


def waiting_line(path: Path, holder: int | None) -> str:
    who = f" (pid {holder})" if holder else ""
    return f"waiting: another ingest of {path.name}{who} is running; this one goes on after it"


def wants_progress() -> bool:
    if not sys.stderr.isatty() and not any(name in os.environ for name in _FORCING_ENV):
        return False  # what rich would say, without importing it
    from rich.console import Console

    return Console(stderr=True).is_terminal


def ingest_progress(interval: float) -> RichIngestProgress | LineProgress:
    """The bar on a terminal, else progress lines every `interval` seconds."""
    return RichIngestProgress() if wants_progress() else LineProgress(interval)
