"""Records for `matches` and `unresolved`: one dict per link or per unresolved reference,
and the rows the trace reports (mediasyncd.traces.report) are made of.

The fields are the contract's (docs/architecture.md, "Contract"); users script against
them. `path` is one place the file was found: the source path, then the member path.
Orders are part of the contract too: nullable columns sort first (`NULLS FIRST`, as
SQLite does anyway), whatever the engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from mediasyncd.index.conversation_links import ambiguous_mention_sql
from mediasyncd.index.engine import Cursor, Index, marks
from mediasyncd.index.traces import MEDIA_KIND, USER_TIME_KIND

# A reference is resolved when a link names it, or a matcher recorded that a file satisfied
# it under another reference's link (two references in one message to one file).
RESOLVED_SQL: Final = """(EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = r.id)
    OR EXISTS (SELECT 1 FROM resolved_refs x WHERE x.ref_id = r.id))"""

MATCH_COLUMNS: Final[Sequence[str]] = (
    "subject",
    "conversation_id",
    "message_id",
    "trace_id",
    "user_id",
    "digest",
    "strategy",
    "association",
    "confidence",
    "path",
)

UNRESOLVED_COLUMNS: Final[Sequence[str]] = (
    "subject",
    "conversation_id",
    "message_id",
    "trace_id",
    "kind",
    "key",
)


# With `detail=True` (the table views) each record also carries what a person reads:
# the conversation's title and start, the message's role and time, and the file's name
# (an attachment's name, else the name it was found under).
_DETAIL_SQL = """,
    c.title AS title, c.create_time AS conversation_time,
    msg.role AS message_role, msg.create_time AS message_time"""
_DETAIL_JOINS = """
    LEFT JOIN conversations c ON c.id = {alias}.conversation_id
    LEFT JOIN messages msg ON msg.conversation_id = {alias}.conversation_id
                          AND msg.id = {alias}.message_id"""


# Conversations oldest first, each one's conversation-level rows first, then by message time.
_DETAIL_ORDER = """{alias}.subject, c.create_time NULLS FIRST,
    {alias}.conversation_id NULLS FIRST, {alias}.message_id IS NOT NULL,
    msg.create_time NULLS FIRST,"""


def _file_name_sql(index: Index) -> str:
    name = index.dialect.json_text("r.extra", "name")
    return f""",
    COALESCE(
        (SELECT {name} FROM refs r WHERE r.id = m.ref_id),
        (SELECT o.name FROM occurrences o WHERE o.digest = m.digest
         ORDER BY o.source_id, o.id LIMIT 1)) AS file_name"""


def first_path_sql(digest_expr: str) -> str:
    """SQL for one place a digest was found, preferring the oldest source."""
    return f"""(SELECT s.path || '!/' || o.member FROM occurrences o
                JOIN sources s ON s.id = o.source_id
                WHERE o.digest = {digest_expr} ORDER BY o.source_id, o.id LIMIT 1)"""


def _records(cursor: Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def iter_matches(
    index: Index,
    *,
    subject: str | None = None,
    conversations: Sequence[str] = (),
    users: Sequence[str] = (),
    strategies: Sequence[str] = (),
    min_confidence: float = 0.0,
    detail: bool = False,
) -> Iterator[dict[str, Any]]:
    where = ["m.confidence >= ?"]
    params: list[Any] = [min_confidence]
    if subject:
        where.append("m.subject = ?")
        params.append(subject)
    for column, values in (
        ("m.conversation_id", conversations),
        ("m.user_id", users),
        ("m.strategy", strategies),
    ):
        if values:
            where.append(f"{column} IN ({marks(values)})")
            params.extend(values)
    sql = f"""
        SELECT m.subject, m.conversation_id, m.message_id, m.trace_id, m.user_id, m.digest,
               m.strategy, m.association, m.confidence, {first_path_sql("m.digest")} AS path
               {_DETAIL_SQL + _file_name_sql(index) if detail else ""}
        FROM matches m {_DETAIL_JOINS.format(alias="m") if detail else ""}
        WHERE {" AND ".join(where)}
        ORDER BY {_DETAIL_ORDER.format(alias="m") if detail else ""}
                 m.subject, m.conversation_id NULLS FIRST, m.user_id NULLS FIRST,
                 m.message_id NULLS FIRST, m.trace_id NULLS FIRST, m.digest, m.strategy
    """
    yield from _records(index.execute(sql, params))


def iter_unresolved(
    index: Index,
    *,
    subject: str | None = None,
    conversations: Sequence[str] = (),
    users: Sequence[str] = (),
    include_mentions: bool = False,
    detail: bool = False,
) -> Iterator[dict[str, Any]]:
    """References that no file satisfies yet (no match names them).

    A file name in prose is a weak clue, not a promise that a file exists: mentions are
    listed only with `include_mentions`, except an `ambiguous_mention`: a name that a file
    nothing claims has, mentioned in two or more conversations, so none of them got it.
    """
    ambiguous = ambiguous_mention_sql(index, "r")
    where = [f"NOT {RESOLVED_SQL}"]
    params: list[Any] = []
    if not include_mentions:
        where.append(f"(r.kind != 'text_mention' OR {ambiguous})")
    if subject:
        where.append("r.subject = ?")
        params.append(subject)
    if conversations:
        where.append(f"r.conversation_id IN ({marks(conversations)})")
        params.extend(conversations)
    if users:
        where.append(f"r.user_id IN ({marks(users)})")
        params.extend(users)
    sql = f"""
        SELECT r.subject, r.conversation_id, r.message_id, r.trace_id, r.user_id,
               CASE WHEN {ambiguous} THEN 'ambiguous_mention' ELSE r.kind END AS kind,
               r.key_kind, r.key, r.extra {_DETAIL_SQL if detail else ""}
        FROM refs r {_DETAIL_JOINS.format(alias="r") if detail else ""}
        WHERE {" AND ".join(where)}
        ORDER BY {_DETAIL_ORDER.format(alias="r") if detail else ""}
                 r.subject, r.conversation_id NULLS FIRST, r.trace_id NULLS FIRST,
                 r.message_id NULLS FIRST, r.kind, r.key
    """
    yield from _records(index.execute(sql, params))


# -- the trace reports ------------------------------------------------------------------


def _window(column: str, start: float | None, end: float | None) -> tuple[str, list[float]]:
    """SQL keeping `column` in [start, end) (None: open), and its parameters."""
    parts: list[str] = []
    params: list[float] = []
    if start is not None:
        parts.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        parts.append(f"{column} < ?")
        params.append(end)
    return (" AND ".join(parts) or "1 = 1"), params


def trace_pair_rows(
    index: Index,
    *,
    users: Sequence[str] = (),
    strategies: Sequence[str] = (),
    min_confidence: float = 0.0,
    start: float | None = None,
    end: float | None = None,
) -> Iterator[tuple[Any, ...]]:
    """One row per photo-trace link, kept by the trace's time (a photo's when there is
    no trace): (user, trace id, digest, strategy, association, confidence, detail,
    trace name, input, output, model, cost, trace ts, path)."""
    where = ["m.subject = 'trace'", "m.confidence >= ?"]
    params: list[Any] = [min_confidence]
    for column, values in (("m.user_id", users), ("m.strategy", strategies)):
        if values:
            where.append(f"{column} IN ({marks(values)})")
            params.extend(values)
    dialect = index.dialect
    moment = f"COALESCE(t.ts, {dialect.json_real('m.detail', 'image_ts')})"
    clause, extra = _window(moment, start, end)
    where.append(clause)
    params.extend(extra)
    yield from index.execute(
        f"""SELECT m.user_id, m.trace_id, m.digest, m.strategy, m.association, m.confidence,
                   m.detail, t.name, t.input, t.output, t.model, t.cost, t.ts,
                   s.path || '!/' || o.member
            FROM matches m
            LEFT JOIN traces t ON t.id = m.trace_id
            LEFT JOIN occurrences o ON o.id = {dialect.json_integer("m.detail", "occurrence_id")}
            LEFT JOIN sources s ON s.id = o.source_id
            WHERE {" AND ".join(where)}
            ORDER BY m.user_id NULLS FIRST, t.ts NULLS FIRST, m.trace_id NULLS FIRST,
                     m.digest""",
        params,
    )


def _user_clause(users: Sequence[str]) -> str:
    return f"IN ({marks(users)})" if users else "IS NOT NULL"


def unused_traces(
    index: Index, users: Sequence[str], start: float | None, end: float | None
) -> Iterator[tuple[str, str, float | None]]:
    """(trace id, user, ts) of the traces no photo went with."""
    clause, extra = _window("t.ts", start, end)
    yield from index.execute(
        f"""SELECT t.id, t.user_id, t.ts FROM traces t
            WHERE t.user_id {_user_clause(users)} AND {clause}
            AND t.id NOT IN (SELECT trace_id FROM matches
                             WHERE subject = 'trace' AND trace_id IS NOT NULL)
            ORDER BY t.user_id, t.ts NULLS FIRST, t.id""",
        [*users, *extra],
    )


def unresolved_media(
    index: Index, users: Sequence[str], start: float | None, end: float | None
) -> Iterator[tuple[str, str, str, float | None]]:
    """(trace id, user, media id, ts) of the media references no photo satisfies."""
    clause, extra = _window("t.ts", start, end)
    yield from index.execute(
        f"""SELECT r.trace_id, t.user_id, r.key, t.ts FROM refs r
            JOIN traces t ON t.id = r.trace_id
            WHERE r.subject = 'trace' AND r.key_kind = ? AND t.user_id {_user_clause(users)}
            AND {clause} AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = r.id)
            ORDER BY t.user_id, t.ts NULLS FIRST, r.trace_id, r.key""",
        [MEDIA_KIND, *users, *extra],
    )


def photo_rows(
    index: Index, users: Sequence[str]
) -> Iterator[tuple[str, int, float | None, str | None, str, str | None, str]]:
    """Every dumped photo occurrence, by user: (user, occurrence id, ts, time source,
    digest, object key, path)."""
    where = f"WHERE d.user_id IN ({marks(users)})" if users else ""
    yield from index.execute(
        f"""SELECT d.user_id, d.occurrence_id, d.ts, d.time_source, o.digest, k.extra,
                   s.path || '!/' || o.member
            FROM dump_images d JOIN occurrences o ON o.id = d.occurrence_id
            JOIN sources s ON s.id = o.source_id
            LEFT JOIN occurrence_keys k
                   ON k.occurrence_id = d.occurrence_id AND k.key_kind = '{USER_TIME_KIND}'
            {where} ORDER BY d.user_id""",
        list(users),
    )


def matched_photos(index: Index) -> set[tuple[str, str, str]]:
    """(user, object key, digest) of every photo some trace is linked to."""
    image_key = index.dialect.json_text("detail", "image_key")
    return {
        (str(u), str(k), str(d))
        for u, k, d in index.execute(
            f"SELECT user_id, {image_key}, digest FROM matches WHERE subject = 'trace'"
        )
    }
