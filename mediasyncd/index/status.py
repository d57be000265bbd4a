"""What `mediasyncd status` counts. The numbers that cost a count over a large table
(objects and bytes, conversations and messages, references and resolved ones, orphans)
are kept by triggers in the one row of `status_counts` (migration 0007) and read from
it; the rest are indexed aggregates (migrations 0003 and 0005). The `*_counted`
functions take the same numbers from the tables: for an engine without the row, and for
tests that check the row against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mediasyncd.index import engine
from mediasyncd.index.engine import Index
from mediasyncd.index.reports import RESOLVED_SQL

COUNTERS = ("blobs", "blob_bytes", "conversations", "messages", "refs", "refs_resolved", "orphans")


def kept_counts(index: Index) -> dict[str, int] | None:
    """The counters row, or None for an index without one (an index before migration
    0007, or PostgreSQL, where one row bumped by every worker would serialise them)."""
    if index.dialect.name != "sqlite":
        return None
    try:
        row = index.execute(f"SELECT {', '.join(COUNTERS)} FROM status_counts").fetchone()
    except engine.OPERATIONAL_ERRORS:  # read when called: each engine adds its own
        return None
    return None if row is None else dict(zip(COUNTERS, map(int, row), strict=True))


def counted(index: Index) -> dict[str, int]:
    """The same numbers, counted from the tables."""
    blobs, size = blob_totals_counted(index)
    conversations, messages = conversation_counts_counted(index)
    refs, resolved = reference_counts_counted(index)
    return dict(
        zip(
            COUNTERS,
            (blobs, size, conversations, messages, refs, resolved, orphans_counted(index)),
            strict=True,
        )
    )


def blob_totals(index: Index) -> tuple[int, int]:
    """(objects, bytes) the index knows."""
    kept = kept_counts(index)
    return (kept["blobs"], kept["blob_bytes"]) if kept else blob_totals_counted(index)


def blob_totals_counted(index: Index) -> tuple[int, int]:
    count, size = index.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs").fetchone()
    return int(count), int(size)


def source_states(index: Index) -> dict[str, int]:
    """How many sources are in each state (every state named, zero or not)."""
    states = {"ok": 0, "partial": 0, "failed": 0, "pending": 0}
    for state, count in index.execute("SELECT state, COUNT(*) FROM sources GROUP BY state"):
        states[str(state)] = int(count)
    return states


def reference_counts(index: Index) -> tuple[int, int]:
    """(references, resolved ones); text mentions are weak clues, counted apart."""
    kept = kept_counts(index)
    return (kept["refs"], kept["refs_resolved"]) if kept else reference_counts_counted(index)


def reference_counts_counted(index: Index) -> tuple[int, int]:
    total = int(index.scalar("SELECT COUNT(*) FROM refs WHERE kind != 'text_mention'") or 0)
    resolved = int(
        index.scalar(
            f"SELECT COUNT(*) FROM refs r WHERE r.kind != 'text_mention' AND {RESOLVED_SQL}"
        )
        or 0
    )
    return total, resolved


def matches_by_strategy(index: Index) -> dict[str, int]:
    return {
        str(strategy): int(count)
        for strategy, count in index.execute(
            "SELECT strategy, COUNT(*) FROM matches GROUP BY strategy ORDER BY strategy"
        )
    }


def match_count(index: Index) -> int:
    return int(index.scalar("SELECT COUNT(*) FROM matches") or 0)


def orphans(index: Index) -> int:
    """Media files found as media in some drop that no link names."""
    kept = kept_counts(index)
    return kept["orphans"] if kept else orphans_counted(index)


def orphans_counted(index: Index) -> int:
    # Unmatched first: most blobs have a match, so SQLite (which tests the terms in this
    # order) seldom looks at their occurrences.
    return int(
        index.scalar(
            """SELECT COUNT(*) FROM blobs b
               WHERE NOT EXISTS (SELECT 1 FROM matches m WHERE m.digest = b.digest)
               AND b.kind IN ('image', 'audio', 'video', 'document')
               AND EXISTS (SELECT 1 FROM occurrences o
                           WHERE o.digest = b.digest AND o.role = 'media')"""
        )
        or 0
    )


def last_ingest(index: Index) -> dict[str, Any] | None:
    """The source ingested last: {path, state, at, error}."""
    row = index.execute(
        """SELECT path, state, last_ingested, error FROM sources
           WHERE last_ingested IS NOT NULL ORDER BY last_ingested DESC, id DESC LIMIT 1"""
    ).fetchone()
    return {"path": row[0], "state": row[1], "at": row[2], "error": row[3]} if row else None


def last_problem(index: Index) -> dict[str, Any] | None:
    """The last failed drop, or partial one (stored, not all of it read):
    {path, state, error, at}."""
    row = index.execute(
        """SELECT path, error, last_ingested, state FROM sources
           WHERE state IN ('failed', 'partial') AND error IS NOT NULL
           ORDER BY last_ingested DESC, id DESC LIMIT 1"""
    ).fetchone()
    return {"path": row[0], "state": row[3], "error": row[1], "at": row[2]} if row else None


# -- the kinds' own counts ----------------------------------------------------------------


def conversation_counts(index: Index) -> tuple[int, int]:
    """(conversations, messages)."""
    kept = kept_counts(index)
    if kept:
        return kept["conversations"], kept["messages"]
    return conversation_counts_counted(index)


def conversation_counts_counted(index: Index) -> tuple[int, int]:
    """Each conversation row keeps its message count: a sum, not a count of messages."""
    conversations = int(index.scalar("SELECT COUNT(*) FROM conversations") or 0)
    messages = int(index.scalar("SELECT COALESCE(SUM(message_count), 0) FROM conversations") or 0)
    return conversations, messages


def trace_count(index: Index) -> int:
    return int(index.scalar("SELECT COUNT(*) FROM traces") or 0)


@dataclass(frozen=True)
class TracePairCounts:
    users: int
    images: int
    pairs: int
    used_traces: int
    matched_images: int
    by_strategy: dict[str, int]
    # |gap| of every pair made by time, in seconds, sorted.
    gaps: list[float]


def trace_pair_counts(index: Index) -> TracePairCounts:
    """Users, photos (one per object key and content), pairs and their gaps."""
    users = int(
        index.scalar(
            """SELECT COUNT(*) FROM (SELECT user_id FROM traces WHERE user_id IS NOT NULL
                                     UNION SELECT user_id FROM dump_images) AS users"""
        )
        or 0
    )
    # From the dump's photos to their occurrences, in that order: SQLite otherwise
    # walked every occurrence of the index (17 ms at 50,000 conversations with no photo).
    join = index.dialect.ordered_join
    images = int(
        index.scalar(
            f"""SELECT COUNT(*) FROM (
                   SELECT DISTINCT d.user_id, COALESCE(k.extra, '#' || d.occurrence_id),
                          o.digest
                   FROM dump_images d {join} occurrences o ON o.id = d.occurrence_id
                   LEFT JOIN occurrence_keys k ON k.occurrence_id = d.occurrence_id
                        AND k.key_kind = 'user_time') AS photos"""
        )
        or 0
    )
    pairs, used_traces = index.execute(
        "SELECT COUNT(*), COUNT(DISTINCT trace_id) FROM matches WHERE subject = 'trace'"
    ).fetchone()
    image_key = index.dialect.json_text("detail", "image_key")
    # A photo is (user, object key, content); a pair without all three names none. The
    # hint keeps SQLite on the trace links' own index (matches_trace), not every user's.
    user = index.dialect.no_index("user_id")
    matched_images = index.scalar(
        f"""SELECT COUNT(*) FROM (
               SELECT DISTINCT user_id, {image_key}, digest FROM matches
               WHERE subject = 'trace' AND {user} IS NOT NULL AND {image_key} IS NOT NULL
               AND digest IS NOT NULL) AS photos"""
    )
    by_strategy = {
        str(s): int(c)
        for s, c in index.execute(
            "SELECT strategy, COUNT(*) FROM matches WHERE subject = 'trace' GROUP BY strategy"
        )
    }
    gap = index.dialect.json_real("detail", "gap_seconds")
    gaps = sorted(
        abs(float(g))
        for (g,) in index.execute(
            f"""SELECT {gap} FROM matches WHERE subject = 'trace' AND strategy = 'time'"""
        )
        if g is not None
    )
    return TracePairCounts(
        users, images, int(pairs), int(used_traces), int(matched_images or 0), by_strategy, gaps
    )
