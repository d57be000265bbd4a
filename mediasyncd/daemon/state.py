"""The `daemon_state` row that `mediasyncd status` reads: pid, since, heartbeat, what it
is doing and the last error, kept whether the daemon runs or not."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mediasyncd.index import Index
from mediasyncd.timeutil import utc_now_iso


def started(index: Index, status: str) -> str:
    since = utc_now_iso()
    with index.write():
        index.execute(
            """INSERT INTO daemon_state (id, pid, since, heartbeat, status) VALUES (1, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, since = excluded.since,
                   heartbeat = excluded.heartbeat, status = excluded.status""",
            (os.getpid(), since, since, status),
        )
    return since


def heartbeat(index: Index, status: str) -> None:
    with index.write():
        index.execute(
            "UPDATE daemon_state SET heartbeat = ?, status = ? WHERE id = 1",
            (utc_now_iso(), status),
        )


def record_error(index: Index, message: str) -> None:
    """Remember the last error, dated, for `status` (which shows it after a stop too)."""
    with index.write():
        index.execute(
            "UPDATE daemon_state SET last_error = ? WHERE id = 1",
            (f"{utc_now_iso()} {message}",),
        )


def stopped(index: Index) -> None:
    with index.write():
        index.execute(
            "UPDATE daemon_state SET pid = NULL, heartbeat = ?, status = 'stopped' WHERE id = 1",
            (utc_now_iso(),),
        )


# The ingest in progress, for `status` (`daemon.progress`): a small file the worker
# replaces about once a second, so progress costs no write transaction in the index.
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
