"""`mediasyncd status`: counts from the index, cheap enough for a 50,000-conversation index.

Every number is one indexed aggregate (mediasyncd.index.status); nothing walks the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediasyncd import kinds
from mediasyncd.daemon.progress_file import read_progress
from mediasyncd.index import Index, daemon_state, jobs, leases
from mediasyncd.index import status as counts
from mediasyncd.process import pid_alive


def daemon_status(index: Index) -> dict[str, Any]:
    if index.shared:
        return workers_status(index)
    row = daemon_state.read(index)
    queue = jobs.queue_length(index)
    running = bool(row and row.pid and pid_alive(row.pid))
    # Read with `last` in one snapshot, so `status` never shows a drop as both being
    # ingested and done.
    current = jobs.running_path(index)
    last = jobs.last_finished(index)
    return {
        "running": running,
        "pid": row.pid if running and row else None,
        "since": row.since if running and row else None,
        "heartbeat": row.heartbeat if row else None,
        "activity": row.status if running and row else None,
        "last_error": row.last_error if row else None,
        "queue": queue,
        # The drop being ingested and how far it is (bytes, phase, rate, ETA).
        "current": current if running else None,
        "progress": _progress(index, current) if running and current else None,
        # The last drop the daemon finished (done or failed), whether it runs or not.
        "last_drop": (
            {"path": last.path, "state": last.state, "at": last.finished, "error": last.error}
            if last
            else None
        ),
    }


def workers_status(index: Index) -> dict[str, Any]:
    """A shared index (PostgreSQL): every worker, from its heartbeats (its host may be
    another machine, so no pid is checked). `running` and `queue` read as for one daemon;
    `workers` lists each: host, pid, state (running, stopped, dead), current drop and
    progress, seconds since its heartbeat."""
    rows = leases.workers(index)
    alive = [row for row in rows if row.state == "running"]
    last = jobs.last_finished(index)
    return {
        "running": bool(alive),
        "pid": None,
        "since": min((row.since for row in alive), default=None),
        "heartbeat": None,
        "activity": None,
        "last_error": next((r.last_error for r in reversed(rows) if r.last_error), None),
        "queue": jobs.queue_length(index),
        "current": None,
        "progress": None,
        "last_drop": (
            {"path": last.path, "state": last.state, "at": last.finished, "error": last.error}
            if last
            else None
        ),
        "workers": [row.to_json() for row in rows],
    }


def _progress(index: Index, current: str) -> dict[str, Any] | None:
    if index.path is None:
        return None
    progress = read_progress(index.path.parent)
    # A file left by a daemon that was killed mid-ingest names another drop, or an
    # earlier run: only the running job's own progress is shown.
    if progress is None or progress.get("path") != str(Path(current).absolute()):
        return None
    # The daemon publishes when bytes or the phase move; a phase with no byte count
    # (reading conversations, matching) may publish nothing for minutes, so the time is
    # counted here from the ingest's start rather than shown as last published.
    started = progress.get("started")
    if isinstance(started, str):
        try:
            since = (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()
        except ValueError:
            since = None
        published = progress.get("elapsed_seconds")
        if since is not None and isinstance(published, int | float) and since > published:
            progress["elapsed_seconds"] = round(since, 1)
    return progress


def collect_status(index: Index) -> dict[str, Any]:
    with index.read():
        blobs, size = counts.blob_totals(index)
        refs_total, resolved = counts.reference_counts(index)
        return {
            "blobs": blobs,
            "bytes": size,
            # Each kind's own counts (conversations and messages, traces and their pairs).
            **kinds.status_counts(index),
            "references": {"resolved": resolved, "unresolved": refs_total - resolved},
            "matches": counts.matches_by_strategy(index),
            "orphans": counts.orphans(index),
            "sources": counts.source_states(index),
            "last_ingest": counts.last_ingest(index),
            # The last problem: a failed drop, or a partial one (stored, not all of it read).
            "last_error": counts.last_problem(index),
            "daemon": daemon_status(index),
        }
