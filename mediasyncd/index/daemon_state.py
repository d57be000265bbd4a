"""The `daemon_state` row that `mediasyncd status` reads: pid, since, heartbeat, what it
is doing and the last error, kept whether the daemon runs or not."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mediasyncd.index.engine import Index
from mediasyncd.timeutil import utc_now_iso


@dataclass(frozen=True)
class DaemonRow:
    pid: int | None
    since: str | None
    heartbeat: str | None
    status: str | None
    last_error: str | None


def read(index: Index) -> DaemonRow | None:
    row = index.execute(
        "SELECT pid, since, heartbeat, status, last_error FROM daemon_state WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return DaemonRow(int(row[0]) if row[0] else None, row[1], row[2], row[3], row[4])


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
