"""Conversations, their messages and their references to files (`refs`, `ref_keys`).

A reference row is owned by its `origin`: 'conversation' (the conversation's own
content, replaced when the conversation changes) or 'doc:<digest>' (a document such as
library_files.json). See mediasyncd.conversations.record for the rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mediasyncd.index.engine import Index, marks
from mediasyncd.timeutil import utc_now_iso


@dataclass(frozen=True)
class ConversationRow:
    id: str
    title: str | None
    create_time: float | None
    update_time: float | None
    account: str | None
    current_node: str | None
    model: str | None
    is_archived: bool | None
    content_hash: str
    message_count: int
    source_id: int | None
    # The digest of the object holding the conversation's JSON (its text is read there).
    document: str | None = None


class Reference(Protocol):
    """One reference to a file: its lookup key, and further keys it can be satisfied by
    (mediasyncd.conversations.extract.RefRow)."""

    @property
    def message_id(self) -> str | None: ...

    @property
    def kind(self) -> str: ...

    @property
    def key_kind(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def extra(self) -> dict[str, Any]: ...

    @property
    def more_keys(self) -> Sequence[tuple[str, str]]: ...


def stored_versions(
    index: Index, conversation_ids: Sequence[str]
) -> dict[str, tuple[str, float | None, str | None]]:
    """The stored copies of these conversations: id -> (content hash, update time,
    document), for those stored."""
    found: dict[str, tuple[str, float | None, str | None]] = {}
    for start in range(0, len(conversation_ids), 500):
        chunk = list(conversation_ids[start : start + 500])
        rows = index.execute(
            f"""SELECT id, content_hash, update_time, document FROM conversations
                WHERE id IN ({marks(chunk)})""",
            chunk,
        )
        found.update((str(i), (str(h), u, d)) for i, h, u, d in rows)
    return found


def known_documents(index: Index, digests: Sequence[str]) -> dict[str, str]:
    """Of these conversation documents, those a conversation is recorded from, with its id:
    the same bytes again need no parsing (an export repeats last month's conversations)."""
    found: dict[str, str] = {}
    for start in range(0, len(digests), 500):
        chunk = list(digests[start : start + 500])
        marks_ = ",".join("?" * len(chunk))
        rows = index.execute(
            f"SELECT document, id FROM conversations WHERE document IN ({marks_})",
            chunk,
        )
        found.update((str(d), str(i)) for d, i in rows)
    return found


def set_document(index: Index, conversation_id: str, document: str) -> None:
    """The same conversation, now held by `document` (text moves out of the index)."""
    index.execute("UPDATE conversations SET document = ? WHERE id = ?", (document, conversation_id))
    index.execute("DELETE FROM message_text_legacy WHERE conversation_id = ?", (conversation_id,))


def document_of(index: Index, conversation_id: str) -> str | None:
    row = index.execute(
        "SELECT document FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    return str(row[0]) if row and row[0] else None


def legacy_texts(index: Index, conversation_id: str) -> dict[str, str]:
    """Message text an index older than 0.9 held, for a conversation not read since."""
    rows = index.execute(
        "SELECT id, text FROM message_text_legacy WHERE conversation_id = ?",
        (conversation_id,),
    )
    return {str(i): str(t) for i, t in rows}


def record_document_parts(
    index: Index, document: str, parts: Iterable[tuple[str, str | None]]
) -> None:
    """The objects the recipe `document` names, with the conversation each holds."""
    index.executemany(
        """INSERT INTO document_parts (document, part, conversation_id) VALUES (?, ?, ?)
           ON CONFLICT (part, document) DO UPDATE SET conversation_id =
               COALESCE(excluded.conversation_id, document_parts.conversation_id)""",
        [(document, part, conversation) for part, conversation in parts],
    )


def shared_keys(
    index: Index, conversation_id: str, more_kinds: Sequence[str]
) -> set[tuple[str, str]]:
    """Keys of the conversation's own references whose links depend on other
    conversations too: their further keys of `more_kinds`, and the lookup keys of its
    file-id references and text mentions."""
    return {
        (str(kind), str(key))
        for kind, key in index.execute(
            f"""SELECT k.key_kind, k.key FROM ref_keys k JOIN refs r ON r.id = k.ref_id
                WHERE r.conversation_id = ? AND r.origin = 'conversation'
                AND k.key_kind IN ({marks(more_kinds)})
                UNION
                SELECT r.key_kind, r.key FROM refs r
                WHERE r.conversation_id = ? AND r.origin = 'conversation'
                AND (r.key_kind = 'file_id' OR r.kind = 'text_mention')""",
            (conversation_id, *more_kinds, conversation_id),
        )
    }


def clear_content(index: Index, conversation_id: str) -> None:
    """Remove the conversation's own references and its messages (it is rewritten)."""
    index.execute(
        "DELETE FROM refs WHERE conversation_id = ? AND origin = 'conversation'",
        (conversation_id,),
    )
    index.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
    index.execute("DELETE FROM message_text_legacy WHERE conversation_id = ?", (conversation_id,))


def upsert_conversations(index: Index, rows: Sequence[ConversationRow]) -> None:
    """Insert or update conversation rows, one statement for all (an account once known
    is kept)."""
    now = utc_now_iso()
    index.executemany(
        """
        INSERT INTO conversations (id, title, create_time, update_time, account, current_node,
                                   model, is_archived, content_hash, message_count, source_id,
                                   updated, document)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET title = excluded.title,
            create_time = excluded.create_time, update_time = excluded.update_time,
            account = COALESCE(excluded.account, conversations.account),
            current_node = excluded.current_node, model = excluded.model,
            is_archived = excluded.is_archived, content_hash = excluded.content_hash,
            message_count = excluded.message_count,
            source_id = excluded.source_id, updated = excluded.updated,
            document = excluded.document
        """,
        [
            (
                row.id,
                row.title,
                row.create_time,
                row.update_time,
                row.account,
                row.current_node,
                row.model,
                None if row.is_archived is None else int(row.is_archived),
                row.content_hash,
                row.message_count,
                row.source_id,
                now,
                row.document,
            )
            for row in rows
        ],
    )


def write_messages_of(index: Index, rows: Sequence[Sequence[Any]]) -> None:
    """Messages as (conversation id, id, parent_id, role, author_name, recipient,
    content_type, create_time, on_current_branch, position); a repeated id keeps the
    last. Their text is not kept here: it is read from the conversation's document."""
    index.executemany(
        """INSERT INTO messages (conversation_id, id, parent_id, role, author_name,
               recipient, content_type, create_time, on_current_branch, position)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (conversation_id, id) DO UPDATE SET parent_id = excluded.parent_id,
               role = excluded.role, author_name = excluded.author_name,
               recipient = excluded.recipient, content_type = excluded.content_type,
               create_time = excluded.create_time,
               on_current_branch = excluded.on_current_branch,
               position = excluded.position""",
        rows,
    )


def insert_refs(
    index: Index, conversation_id: str, refs: Iterable[Reference], *, origin: str
) -> None:
    """Insert one conversation's references in their order (see `insert_refs_of`)."""
    insert_refs_of(index, ((conversation_id, ref) for ref in refs), origin=origin)


def insert_refs_of(index: Index, refs: Iterable[tuple[str, Reference]], *, origin: str) -> None:
    """Insert (conversation id, reference) pairs in their order (their ids keep it). A
    run of references without further keys goes in one statement; one with keys needs
    its id back for them."""
    run: list[tuple[Any, ...]] = []
    for conversation_id, ref in refs:
        row = (
            conversation_id,
            ref.message_id,
            ref.kind,
            ref.key_kind,
            ref.key,
            json.dumps(ref.extra, sort_keys=True) if ref.extra else None,
            origin,
        )
        if not ref.more_keys:
            run.append(row)
            continue
        if run:
            index.executemany(_INSERT_REF, run)
            run = []
        ref_id = index.inserted_id(_INSERT_REF + " RETURNING id", row)
        index.executemany(
            """INSERT INTO ref_keys (ref_id, key_kind, key) VALUES (?, ?, ?)
               ON CONFLICT DO NOTHING""",
            [(ref_id, kind, key) for kind, key in ref.more_keys],
        )
    if run:
        index.executemany(_INSERT_REF, run)


_INSERT_REF = """INSERT INTO refs (subject, conversation_id, message_id, kind, key_kind, key,
                                  extra, origin)
                 VALUES ('conversation', ?, ?, ?, ?, ?, ?, ?)"""


def remove_library_ref(
    index: Index, conversation_id: str, file_id: str, message_id: str | None
) -> None:
    """The row an earlier library listing wrote for this entry (a newer one restates it)."""
    index.execute(
        """DELETE FROM refs WHERE kind = 'library_file' AND conversation_id = ? AND key = ?
           AND message_id IS NOT DISTINCT FROM ?""",
        (conversation_id, file_id, message_id),
    )


# -- what a person typed -----------------------------------------------------------------


def conversation_ids(index: Index) -> set[str]:
    return {str(row[0]) for row in index.execute("SELECT id FROM conversations")}


def title_of(index: Index, conversation_id: str) -> str | None:
    value = index.scalar("SELECT title FROM conversations WHERE id = ?", (conversation_id,))
    return None if value is None else str(value)
