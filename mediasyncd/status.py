"""`mediasyncd status`: counts from the index, cheap enough for a 50,000-conversation index.

Every number is one indexed aggregate; nothing walks the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mediasyncd.daemon.state import read_progress
from mediasyncd.index import Index
from mediasyncd.reports import RESOLVED_SQL
from mediasyncd.store import pid_alive
from mediasyncd.traces.report import trace_pair_stats


def daemon_status(index: Index) -> dict[str, Any]:
    row = index.execute(
        "SELECT pid, since, heartbeat, status, last_error FROM daemon_state WHERE id = 1"
    ).fetchone()
    queue = {
        state: int(count)
        for state, count in index.execute(
            "SELECT state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running') GROUP BY state"
        )
    }
    running = bool(row and row[0] and pid_alive(int(row[0])))
    # Read with `last` in one snapshot, so `status` never shows a drop as both being
    # ingested and done.
    current = index.scalar("SELECT path FROM jobs WHERE state = 'running' ORDER BY id LIMIT 1")
    last = index.execute(
        """SELECT path, state, finished, error FROM jobs WHERE finished IS NOT NULL
           ORDER BY finished DESC, id DESC LIMIT 1"""
    ).fetchone()
    return {
        "running": running,
        "pid": int(row[0]) if running and row else None,
        "since": row[1] if running and row else None,
        "heartbeat": row[2] if row else None,
        "activity": row[3] if running and row else None,
        "last_error": row[4] if row else None,
        "queue": queue.get("queued", 0) + queue.get("running", 0),
        # The drop being ingested and how far it is (bytes, phase, rate, ETA).
        "current": current if running else None,
        "progress": _progress(index, current) if running and current else None,
        # The last drop the daemon finished (done or failed), whether it runs or not.
        "last_drop": (
            {"path": last[0], "state": last[1], "at": last[2], "error": last[3]} if last else None
        ),
    }


def _progress(index: Index, current: str) -> dict[str, Any] | None:
    if index.path is None:
        return None
    progress = read_progress(index.path.parent)
    # A file left by a daemon that was killed mid-ingest names another drop, or an
    # earlier run: only the running job's own progress is shown.
    if progress is None or progress.get("path") != str(Path(current).absolute()):
        return None
    return progress


def collect_status(index: Index) -> dict[str, Any]:
    with index.read():
        blobs, size = index.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs").fetchone()
        sources = {"ok": 0, "partial": 0, "failed": 0, "pending": 0}
        for state, count in index.execute("SELECT state, COUNT(*) FROM sources GROUP BY state"):
            sources[str(state)] = int(count)
        # Text mentions are weak clues, counted apart from references to files.
        refs_total = int(
            index.scalar("SELECT COUNT(*) FROM refs WHERE kind != 'text_mention'") or 0
        )
        resolved = int(
            index.scalar(
                f"SELECT COUNT(*) FROM refs r WHERE r.kind != 'text_mention' AND {RESOLVED_SQL}"
            )
            or 0
        )
        matches = {
            str(strategy): int(count)
            for strategy, count in index.execute(
                "SELECT strategy, COUNT(*) FROM matches GROUP BY strategy ORDER BY strategy"
            )
        }
        # Unmatched first: most blobs have a match, so SQLite (which tests the terms in
        # this order) seldom looks at their occurrences.
        orphans = int(
            index.scalar(
                """SELECT COUNT(*) FROM blobs b
                   WHERE NOT EXISTS (SELECT 1 FROM matches m WHERE m.digest = b.digest)
                   AND b.kind IN ('image', 'audio', 'video', 'document')
                   AND EXISTS (SELECT 1 FROM occurrences o
                               WHERE o.digest = b.digest AND o.role = 'media')"""
            )
            or 0
        )
        last = index.execute(
            """SELECT path, state, last_ingested, error FROM sources
               WHERE last_ingested IS NOT NULL ORDER BY last_ingested DESC, id DESC LIMIT 1"""
        ).fetchone()
        # The last problem: a failed drop, or a partial one (stored, not all of it read).
        last_error = index.execute(
            """SELECT path, error, last_ingested, state FROM sources
               WHERE state IN ('failed', 'partial') AND error IS NOT NULL
               ORDER BY last_ingested DESC, id DESC LIMIT 1"""
        ).fetchone()
        return {
            "blobs": int(blobs),
            "bytes": int(size),
            "conversations": int(index.scalar("SELECT COUNT(*) FROM conversations") or 0),
            "messages": int(
                index.scalar("SELECT COALESCE(SUM(message_count), 0) FROM conversations") or 0
            ),
            "traces": int(index.scalar("SELECT COUNT(*) FROM traces") or 0),
            # Image dumps and traces (the meal-images case): photos, traces, pairs.
            "trace_pairs": trace_pair_stats(index),
            "references": {"resolved": resolved, "unresolved": refs_total - resolved},
            "matches": matches,
            "orphans": orphans,
            "sources": sources,
            "last_ingest": (
                {"path": last[0], "state": last[1], "at": last[2], "error": last[3]}
                if last
                else None
            ),
            "last_error": (
                {
                    "path": last_error[0],
                    "state": last_error[3],
                    "error": last_error[1],
                    "at": last_error[2],
                }
                if last_error
                else None
            ),
            "daemon": daemon_status(index),
        }
