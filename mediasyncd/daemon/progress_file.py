"""The ingest in progress, for `status` (`daemon.progress`): a small file the worker
replaces about once a second, so progress costs no write transaction in the index. Kept
apart from the progress tracker so `status` reads it without importing the logger."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PROGRESS_FILE = "daemon-progress.json"


def publish_progress(state_dir: Path, data: dict[str, Any]) -> None:
    target = state_dir / PROGRESS_FILE
    temp = target.with_name(f".{PROGRESS_FILE}.{os.getpid()}")
    temp.write_text(json.dumps(data), encoding="utf-8")
    temp.replace(target)


def clear_progress(state_dir: Path) -> None:
    (state_dir / PROGRESS_FILE).unlink(missing_ok=True)


def read_progress(state_dir: Path) -> dict[str, Any] | None:
    """The published progress, or None (no ingest running, or a file being replaced)."""
    try:
        data = json.loads((state_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
