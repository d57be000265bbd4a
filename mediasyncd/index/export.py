"""What `mediasyncd export` reads: conversations with their links, messages and missing
references, and per user the traces, links and photos (mediasyncd.export plans and
renders them). Bulk queries per chunk of conversations, so a plan costs a few queries
per 400 conversations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mediasyncd.index.engine import Index, marks
from mediasyncd.index.reports import RESOLVED_SQL
from mediasyncd.index.traces import MEDIA_KIND


def conversation_summaries(index: Index) -> list[tuple[Any, ...]]:
    """(id, title, create_time, update_time, message_count, content_hash, model) of every
    conversation, in id order."""
    return index.execute(
        """SELECT id, title, create_time, update_time, message_count, content_hash, model
           FROM conversations ORDER BY id"""
    ).fetchall()


def link_rows(index: Index, conversation_ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Each link of these conversations with its reference, object and message position:
    (conversation_id, message_id, digest, strategy, association, confidence, ref kind,
    ref extra, size, mime, kind, position)."""
    yield from index.execute(
        f"""SELECT m.conversation_id, m.message_id, m.digest, m.strategy, m.association,
                   m.confidence, r.kind, r.extra, b.size, b.mime, b.kind, msg.position
            FROM matches m
            LEFT JOIN refs r ON r.id = m.ref_id
            LEFT JOIN blobs b ON b.digest = m.digest
            LEFT JOIN messages msg ON msg.conversation_id = m.conversation_id
                                  AND msg.id = m.message_id
            WHERE m.subject = 'conversation'
            AND m.conversation_id IN ({marks(conversation_ids)})""",
        list(conversation_ids),
    )


def missing_ref_rows(index: Index, conversation_ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The unresolved references of these conversations, text mentions aside:
    (conversation_id, message_id, kind, key, extra, message position)."""
    yield from index.execute(
        f"""SELECT r.conversation_id, r.message_id, r.kind, r.key, r.extra, msg.position
            FROM refs r
            LEFT JOIN messages msg ON msg.conversation_id = r.conversation_id
                                  AND msg.id = r.message_id
            WHERE r.subject = 'conversation' AND r.conversation_id IN ({marks(conversation_ids)})
              -- A file name in prose is a weak clue, not a promise that a file exists.
              AND r.kind != 'text_mention'
              AND NOT {RESOLVED_SQL}""",
        list(conversation_ids),
    )


def member_names(index: Index, digests: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(digest, name it was found under) of every occurrence of these objects."""
    for digest, name in index.execute(
        f"SELECT digest, name FROM occurrences WHERE digest IN ({marks(digests)})",
        list(digests),
    ):
        yield str(digest), str(name or "")


def original_names(index: Index, digests: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(digest, original file name a map gave it) of these objects."""
    for digest, key in index.execute(
        f"""SELECT o.digest, k.key FROM occurrence_keys k
            JOIN occurrences o ON o.id = k.occurrence_id
            WHERE k.key_kind = 'filename' AND o.digest IN ({marks(digests)})""",
        list(digests),
    ):
        yield str(digest), str(key)


def messages_of(index: Index, conversation_id: str) -> list[tuple[Any, ...]]:
    """(id, parent_id, role, author_name, recipient, content_type, create_time,
    on_current_branch, position) of the conversation's messages, in order."""
    return index.execute(
        """SELECT id, parent_id, role, author_name, recipient, content_type, create_time,
                  on_current_branch, position
           FROM messages WHERE conversation_id = ? ORDER BY position, id""",
        (conversation_id,),
    ).fetchall()


# -- per user ---------------------------------------------------------------------------


def trace_users(index: Index) -> list[str]:
    """Every user with traces, photos or links, in order."""
    return sorted(
        str(row[0])
        for row in index.execute(
            """SELECT user_id FROM traces WHERE user_id IS NOT NULL AND user_id != ''
               UNION SELECT user_id FROM dump_images WHERE user_id != ''
               UNION SELECT user_id FROM matches WHERE subject = 'trace' AND user_id IS NOT NULL"""
        )
    )


def traces_of(index: Index, user_id: str) -> list[tuple[Any, ...]]:
    """(id, ts, timestamp, name, model, session_id, input, output, content_hash) of the
    user's traces, by time."""
    return index.execute(
        """SELECT id, ts, timestamp, name, model, session_id, input, output, content_hash
           FROM traces WHERE user_id = ? ORDER BY ts NULLS FIRST, id""",
        (user_id,),
    ).fetchall()


def links_of(index: Index, user_id: str) -> list[tuple[Any, ...]]:
    """(trace_id, digest, strategy, association, confidence, size, mime, kind, detail) of
    the user's photo-trace links."""
    return index.execute(
        """SELECT m.trace_id, m.digest, m.strategy, m.association, m.confidence,
                  b.size, b.mime, b.kind, m.detail
           FROM matches m LEFT JOIN blobs b ON b.digest = m.digest
           WHERE m.subject = 'trace' AND m.user_id = ?
           ORDER BY m.trace_id NULLS FIRST, m.digest""",
        (user_id,),
    ).fetchall()


def missing_media_of(index: Index, user_id: str) -> list[tuple[str, str, Any]]:
    """(trace_id, media id, extra) of the user's media references no photo satisfies."""
    # Through traces(user_id) and refs(trace_id): both indexed, refs has no user index.
    return index.execute(
        """SELECT r.trace_id, r.key, r.extra FROM traces t
           JOIN refs r ON r.trace_id = t.id AND r.subject = 'trace'
           WHERE t.user_id = ? AND r.key_kind = ?
             AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = r.id)
           ORDER BY r.trace_id, r.key""",
        (user_id, MEDIA_KIND),
    ).fetchall()


def photos_of(index: Index, user_id: str) -> list[tuple[Any, ...]]:
    """(digest, size, mime, kind) of each photo occurrence of the user, by time (a photo
    in several drops comes once per drop)."""
    return index.execute(
        """SELECT o.digest, b.size, b.mime, b.kind FROM dump_images d
           JOIN occurrences o ON o.id = d.occurrence_id
           LEFT JOIN blobs b ON b.digest = o.digest
           WHERE d.user_id = ? ORDER BY d.ts NULLS FIRST, o.digest""",
        (user_id,),
    ).fetchall()
