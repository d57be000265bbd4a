"""Writing conversations, messages and references to the index. SQL only, no file I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from mediasyncd.conversations.extract import ConversationData, RefRow
from mediasyncd.index import Index
from mediasyncd.timeutil import utc_now_iso

Outcome = Literal["new", "changed", "unchanged", "older"]


# Secondary keys whose matches depend on every conversation's references at once (a size
# links only when exactly one generated pointer in the whole index has it).
GLOBAL_KEY_KINDS = ("size",)
# Reference keys whose links depend on other conversations too: a file id a reference
# names claims the file against text mentions elsewhere, and a mentioned name links only
# when one conversation mentions it (mentions.py).
CROSS_CONVERSATION_KEYS = "r.key_kind = 'file_id' OR r.kind = 'text_mention'"
# library_artifact_type values of files a tool made (2026: `image_gen` as well as `image`).
GENERATED_ARTIFACTS = frozenset({"image", "image_gen", "report"})


def record_conversation(
    index: Index,
    data: ConversationData,
    *,
    source_id: int | None,
    account: str | None,
    changed_keys: set[tuple[str, str]] | None = None,
) -> Outcome:
    """Insert or update one conversation; an older copy never overwrites a newer one.

    `changed_keys` receives the global keys of the references removed and added, so other
    conversations that compete for the same key are rematched too, and the file ids and
    mentioned names, whose links depend on other conversations (mentions.py).
    """
    existing = index.execute(
        "SELECT content_hash, update_time FROM conversations WHERE id = ?", (data.id,)
    ).fetchone()
    if existing is not None:
        if existing[0] == data.content_hash:
            return "unchanged"
        stored_update = existing[1]
        if (
            stored_update is not None
            and data.update_time is not None
            and data.update_time < stored_update
        ):
            return "older"
        if changed_keys is not None:
            marks = ", ".join("?" for _ in GLOBAL_KEY_KINDS)
            changed_keys.update(
                (str(kind), str(key))
                for kind, key in index.execute(
                    f"""SELECT k.key_kind, k.key FROM ref_keys k JOIN refs r ON r.id = k.ref_id
                        WHERE r.conversation_id = ? AND r.origin = 'conversation'
                        AND k.key_kind IN ({marks})
                        UNION
                        SELECT r.key_kind, r.key FROM refs r
                        WHERE r.conversation_id = ? AND r.origin = 'conversation'
                        AND ({CROSS_CONVERSATION_KEYS})""",
                    (data.id, *GLOBAL_KEY_KINDS, data.id),
                )
            )
        index.execute(
            "DELETE FROM refs WHERE conversation_id = ? AND origin = 'conversation'", (data.id,)
        )
        index.execute("DELETE FROM messages WHERE conversation_id = ?", (data.id,))
    index.execute(
        """
        INSERT INTO conversations (id, title, create_time, update_time, account, current_node,
                                   model, is_archived, content_hash, message_count, source_id,
                                   updated)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET title = excluded.title,
            create_time = excluded.create_time, update_time = excluded.update_time,
            account = COALESCE(excluded.account, conversations.account),
            current_node = excluded.current_node, model = excluded.model,
            is_archived = excluded.is_archived, content_hash = excluded.content_hash,
            message_count = excluded.message_count,
            source_id = excluded.source_id, updated = excluded.updated
        """,
        (
            data.id,
            data.title,
            data.create_time,
            data.update_time,
            account,
            data.current_node,
            data.model,
            None if data.is_archived is None else int(data.is_archived),
            data.content_hash,
            len({m.id for m in data.messages}),
            source_id,
            utc_now_iso(),
        ),
    )
    index.conn.executemany(
        """INSERT OR REPLACE INTO messages (conversation_id, id, parent_id, role, author_name,
               recipient, content_type, create_time, on_current_branch, position, text)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (
                data.id,
                m.id,
                m.parent_id,
                m.role,
                m.author_name,
                m.recipient,
                m.content_type,
                m.create_time,
                int(m.on_current_branch),
                m.position,
                m.text,
            )
            for m in data.messages
        ],
    )
    insert_refs(index, data.id, data.refs, origin="conversation")
    if changed_keys is not None:
        changed_keys.update(
            (kind, key)
            for ref in data.refs
            for kind, key in ref.more_keys
            if kind in GLOBAL_KEY_KINDS
        )
        changed_keys.update(
            (ref.key_kind, ref.key)
            for ref in data.refs
            if ref.key_kind == "file_id" or ref.kind == "text_mention"
        )
    return "new" if existing is None else "changed"


def insert_refs(index: Index, conversation_id: str, refs: Iterable[RefRow], *, origin: str) -> None:
    for ref in refs:
        cursor = index.execute(
            """INSERT INTO refs (subject, conversation_id, message_id, kind, key_kind, key, extra,
                                 origin)
               VALUES ('conversation', ?, ?, ?, ?, ?, ?, ?)""",
            (
                conversation_id,
                ref.message_id,
                ref.kind,
                ref.key_kind,
                ref.key,
                json.dumps(ref.extra, sort_keys=True) if ref.extra else None,
                origin,
            ),
        )
        if ref.more_keys:
            index.conn.executemany(
                "INSERT OR IGNORE INTO ref_keys (ref_id, key_kind, key) VALUES (?, ?, ?)",
                [(cursor.lastrowid, kind, key) for kind, key in ref.more_keys],
            )


def record_library_entry(index: Index, entry: dict[str, Any], *, origin: str) -> str | None:
    """One library_files.json entry as a reference from its originating conversation."""
    file_id = entry.get("file_id")
    thread = entry.get("origination_thread_id")
    if not isinstance(file_id, str) or not file_id or not isinstance(thread, str) or not thread:
        return None
    message = entry.get("origination_message_id")
    message_id = message if isinstance(message, str) and message else None
    gen_id = entry.get("image_gen_generation_id")
    artifact = entry.get("library_artifact_type")
    generated = bool(gen_id) or artifact in GENERATED_ARTIFACTS
    extra = {
        "association": "generated" if generated else "attachment",
        "name": entry.get("file_name"),
        "mime_type": entry.get("mime_type"),
        "artifact_type": artifact,
        "gen_id": gen_id if isinstance(gen_id, str) else None,
        "created_at": entry.get("created_at"),
    }
    extra = {k: v for k, v in extra.items() if v is not None}
    # A newer library listing restates old entries: keep one row per entry.
    index.execute(
        """DELETE FROM refs WHERE kind = 'library_file' AND conversation_id = ? AND key = ?
           AND message_id IS ?""",
        (thread, file_id, message_id),
    )
    more = [("gen_id", gen_id)] if isinstance(gen_id, str) and gen_id else []
    insert_refs(
        index,
        thread,
        [RefRow(message_id, "library_file", "file_id", file_id, extra, more)],
        origin=origin,
    )
    return thread


def document_seen(index: Index, digest: str, interpreter: str) -> bool:
    return (
        index.execute(
            "SELECT 1 FROM documents WHERE digest = ? AND interpreter = ?", (digest, interpreter)
        ).fetchone()
        is not None
    )


def mark_document(index: Index, digest: str, interpreter: str) -> None:
    index.execute(
        "INSERT OR REPLACE INTO documents (digest, interpreter, interpreted) VALUES (?, ?, ?)",
        (digest, interpreter, utc_now_iso()),
    )
