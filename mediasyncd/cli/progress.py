"""A rich progress bar for long ingests, shown only when stderr is a terminal."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mediasyncd.ingest import Progress as IngestProgress


class RichIngestProgress(IngestProgress):
    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: int | None = None

    def __enter__(self) -> RichIngestProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def source_started(self, path: Path, total_bytes: int | None) -> None:
        self._task = self._bar.add_task(path.name[:40], total=total_bytes)

    def advance(self, nbytes: int, member: str) -> None:
        if self._task is not None:
            self._bar.advance(self._task, nbytes)  # type: ignore[arg-type]

    def source_finished(self, path: Path) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)  # type: ignore[arg-type]
            self._task = None


def wants_progress() -> bool:
    return Console(stderr=True).is_terminal
