"""Records for `matches` and `unresolved`: one dict per link or per unresolved reference.

The fields are the contract's (docs/architecture.md); users script against them.
`path` is one place the file was found: the source path, then the member path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mediasyncd.conversations.mentions import ambiguous_mention_sql
from mediasyncd.index import Index

# A reference is resolved when a link names it, or a matcher recorded that a file satisfied
# it under another reference's link (two references in one message to one file).
RESOLVED_SQL = """(EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = r.id)
    OR EXISTS (SELECT 1 FROM resolved_refs x WHERE x.ref_id = r.id))"""

MATCH_COLUMNS: Sequence[str] = (
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

UNRESOLVED_COLUMNS: Sequence[str] = (
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
_DETAIL_ORDER = """{alias}.subject, c.create_time, {alias}.conversation_id,
    {alias}.message_id IS NOT NULL, msg.create_time,"""

_FILE_NAME_SQL = """,
    COALESCE(
        (SELECT json_extract(r.extra, '$.name') FROM refs r WHERE r.id = m.ref_id),
        (SELECT o.name FROM occurrences o WHERE o.digest = m.digest
         ORDER BY o.source_id, o.id LIMIT 1)) AS file_name"""


def first_path_sql(digest_expr: str) -> str:
    """SQL for one place a digest was found, preferring the oldest source."""
    return f"""(SELECT s.path || '!/' || o.member FROM occurrences o
                JOIN sources s ON s.id = o.source_id
                WHERE o.digest = {digest_expr} ORDER BY o.source_id, o.id LIMIT 1)"""


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
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    sql = f"""
        SELECT m.subject, m.conversation_id, m.message_id, m.trace_id, m.user_id, m.digest,
               m.strategy, m.association, m.confidence, {first_path_sql("m.digest")} AS path
               {_DETAIL_SQL + _FILE_NAME_SQL if detail else ""}
        FROM matches m {_DETAIL_JOINS.format(alias="m") if detail else ""}
        WHERE {" AND ".join(where)}
        ORDER BY {_DETAIL_ORDER.format(alias="m") if detail else ""}
                 m.subject, m.conversation_id, m.user_id, m.message_id, m.trace_id, m.digest,
                 m.strategy
    """
    cursor = index.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


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
    ambiguous = ambiguous_mention_sql("r")
    where = [f"NOT {RESOLVED_SQL}"]
    params: list[Any] = []
    if not include_mentions:
        where.append(f"(r.kind != 'text_mention' OR {ambiguous})")
    if subject:
        where.append("r.subject = ?")
        params.append(subject)
    if conversations:
        where.append(f"r.conversation_id IN ({', '.join('?' for _ in conversations)})")
        params.extend(conversations)
    if users:
        where.append(f"r.user_id IN ({', '.join('?' for _ in users)})")
        params.extend(users)
    sql = f"""
        SELECT r.subject, r.conversation_id, r.message_id, r.trace_id, r.user_id,
               CASE WHEN {ambiguous} THEN 'ambiguous_mention' ELSE r.kind END AS kind,
               r.key_kind, r.key, r.extra {_DETAIL_SQL if detail else ""}
        FROM refs r {_DETAIL_JOINS.format(alias="r") if detail else ""}
        WHERE {" AND ".join(where)}
        ORDER BY {_DETAIL_ORDER.format(alias="r") if detail else ""}
                 r.subject, r.conversation_id, r.trace_id, r.message_id, r.kind, r.key
    """
    cursor = index.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))
