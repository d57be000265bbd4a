"""What a conversation or a library entry puts in the index, and what its change means
for other conversations (mediasyncd.index.conversations holds the SQL)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from mediasyncd.conversations.extract import ConversationData, RefRow
from mediasyncd.index import Index
from mediasyncd.index import conversations as conversations_db

Outcome = Literal["new", "changed", "unchanged", "older"]


# Secondary keys whose matches depend on every conversation's references at once (a size
# links only when exactly one generated pointer in the whole index has it).
GLOBAL_KEY_KINDS = ("size",)
# Reference keys whose links depend on other conversations too (`_shared_keys`): a file
# id a reference names claims the file against text mentions elsewhere, and a mentioned
# name links only when one conversation mentions it (mentions.py).
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
    stored = conversations_db.stored_version(index, data.id)
    if stored is not None:
        content_hash, stored_update, stored_document = stored
        if content_hash == data.content_hash:
            if data.document is not None and stored_document != data.document:
                # The same content in other bytes (or first read since the text left
                # the index): its text is read from this document from now on.
                conversations_db.set_document(index, data.id, data.document)
            return "unchanged"
        if (
            stored_update is not None
            and data.update_time is not None
            and data.update_time < stored_update
        ):
            return "older"
        if changed_keys is not None:
            changed_keys.update(conversations_db.shared_keys(index, data.id, GLOBAL_KEY_KINDS))
        conversations_db.clear_content(index, data.id)
    conversations_db.upsert_conversation(
        index,
        conversations_db.ConversationRow(
            data.id,
            data.title,
            data.create_time,
            data.update_time,
            account,
            data.current_node,
            data.model,
            data.is_archived,
            data.content_hash,
            len({m.id for m in data.messages}),
            source_id,
            data.document,
        ),
    )
    conversations_db.write_messages(index, data.id, _message_rows(data))
    conversations_db.insert_refs(index, data.id, data.refs, origin="conversation")
    if changed_keys is not None:
        changed_keys.update(_shared_keys(data.refs))
    return "new" if stored is None else "changed"


def _message_rows(data: ConversationData) -> list[tuple[Any, ...]]:
    return [
        (
            m.id,
            m.parent_id,
            m.role,
            m.author_name,
            m.recipient,
            m.content_type,
            m.create_time,
            int(m.on_current_branch),
            m.position,
        )
        for m in data.messages
    ]


def _shared_keys(refs: Iterable[RefRow]) -> set[tuple[str, str]]:
    """The keys of these references whose links depend on other conversations too."""
    keys = {(kind, key) for ref in refs for kind, key in ref.more_keys if kind in GLOBAL_KEY_KINDS}
    keys.update(
        (ref.key_kind, ref.key)
        for ref in refs
        if ref.key_kind == "file_id" or ref.kind == "text_mention"
    )
    return keys


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
    conversations_db.remove_library_ref(index, thread, file_id, message_id)
    more = [("gen_id", gen_id)] if isinstance(gen_id, str) and gen_id else []
    conversations_db.insert_refs(
        index,
        thread,
        [RefRow(message_id, "library_file", "file_id", file_id, extra, more)],
        origin=origin,
    )
    return thread
