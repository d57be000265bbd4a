"""Message text, read from the conversation's own document rather than the index.

The index keeps the message tree (ids, parents, roles, order) but not the text: that
would be a second full copy of every conversation (issue 18). The export reads one
conversation's object (compressed, a few kB to a few MB) and takes the text of each
message exactly as the ingest extracted it.
"""

from __future__ import annotations

import msgspec

from mediasyncd.conversations.extract import ConversationShapeError, extract_conversation
from mediasyncd.errors import StoreError
from mediasyncd.index import Index
from mediasyncd.index import conversations as conversations_db
from mediasyncd.logconfig import get_logger
from mediasyncd.store import Store

log = get_logger("mediasyncd.conversations.text")


def message_texts(index: Index, store: Store, conversation_id: str) -> dict[str, str]:
    """Message id -> text; empty for a conversation whose document cannot be read (the
    problem is logged; `mediasyncd verify` names the object)."""
    document = conversations_db.document_of(index, conversation_id)
    if document is None:
        # Recorded by an older version and not read since: the text it kept.
        return conversations_db.legacy_texts(index, conversation_id)
    try:
        with store.open(document) as handle:
            raw = handle.read()
        data = extract_conversation(msgspec.json.decode(raw))
    except (StoreError, OSError, msgspec.DecodeError, ConversationShapeError) as exc:
        log.warning(
            "conversation.text_unreadable",
            conversation=conversation_id,
            document=document,
            error=str(exc),
        )
        return {}
    return {message.id: message.text for message in data.messages}
