"""What a conversation or a library entry puts in the index, and what its change means
for other conversations (mediasyncd.index.conversations holds the SQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def record_conversations(
    index: Index,
    batch: Sequence[ConversationData],
    *,
    source_id: int | None,
    account: str | None,
    changed_keys: set[tuple[str, str]] | None = None,
) -> list[Outcome]:
    """Insert or update conversations, a few statements for the whole batch; an older
    copy never overwrites a newer one. Returns each one's outcome, in order.

    `changed_keys` receives the global keys of the references removed and added, so other
    conversations that compete for the same key are rematched too, and the file ids and
    mentioned names, whose links depend on other conversations (mentions.py).

    An id that repeats in the batch starts a new run, so the later copy is compared with
    what the earlier one wrote, as one at a time would."""
    outcomes: list[Outcome] = []
    start = 0
    while start < len(batch):
        seen: set[str] = set()
        end = start
        while end < len(batch) and batch[end].id not in seen:
            seen.add(batch[end].id)
            end += 1
        outcomes += _record_distinct(index, batch[start:end], source_id, account, changed_keys)
        start = end
    return outcomes


def _record_distinct(
    index: Index,
    batch: Sequence[ConversationData],
    source_id: int | None,
    account: str | None,
    changed_keys: set[tuple[str, str]] | None,
) -> list[Outcome]:
    stored_of = conversations_db.stored_versions(index, [data.id for data in batch])
    outcomes: list[Outcome] = []
    rows: list[conversations_db.ConversationRow] = []
    messages: list[tuple[Any, ...]] = []
    refs: list[tuple[str, RefRow]] = []
    for data in batch:
        stored = stored_of.get(data.id)
        if stored is not None:
            content_hash, stored_update, stored_document = stored
            if content_hash == data.content_hash:
                if data.document is not None and stored_document != data.document:
                    # The same content in other bytes (or first read since the text left
                    # the index): its text is read from this document from now on.
                    conversations_db.set_document(index, data.id, data.document)
                outcomes.append("unchanged")
                continue
            if (
                stored_update is not None
                and data.update_time is not None
                and data.update_time < stored_update
            ):
                outcomes.append("older")
                continue
            if changed_keys is not None:
                changed_keys.update(conversations_db.shared_keys(index, data.id, GLOBAL_KEY_KINDS))
            conversations_db.clear_content(index, data.id)
        rows.append(
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
            )
        )
        messages += [(data.id, *row) for row in _message_rows(data)]
        refs += [(data.id, ref) for ref in data.refs]
        if changed_keys is not None:
            changed_keys.update(_shared_keys(data.refs))
        outcomes.append("new" if stored is None else "changed")
    conversations_db.upsert_conversations(index, rows)
    conversations_db.write_messages_of(index, messages)
    conversations_db.insert_refs_of(index, refs, origin="conversation")
    return outcomes


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
