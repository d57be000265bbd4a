"""One conversation from its raw bytes: parsed within the limits, then extracted.

A pure function of the bytes and the limits, so it runs the same in the writing process
and in the helper process (mediasyncd.conversations.helper); it imports nothing of the
index or the store, which keeps the helper's start short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from mediasyncd.conversations.extract import (
    ConversationData,
    ConversationShapeError,
    extract_conversation,
)
from mediasyncd.conversations.parse import OversizedConversation
from mediasyncd.store import documents


@dataclass(frozen=True)
class Extracted:
    """What one conversation's bytes gave: its rows, or why it was skipped (`failure`,
    with its id when it had one, for the message); and its bytes compressed as the
    store keeps them, when asked for."""

    data: ConversationData | None
    failure: str | None = None
    ident: str | None = None
    compressed: bytes | None = None


def extract_item(raw: bytes, max_depth: int, max_nodes: int, *, compress: bool) -> Extracted:
    packed = documents.compress(raw) if compress else None
    ident: str | None = None
    try:
        conversation = parse_conversation(raw, max_depth, max_nodes)
        if isinstance(conversation, dict):
            found = conversation.get("conversation_id") or conversation.get("id")
            ident = None if found is None else str(found)
        return Extracted(extract_conversation(conversation), compressed=packed)
    except ConversationShapeError as exc:
        return Extracted(None, str(exc), ident, packed)


def parse_conversation(raw: bytes, max_depth: int, max_nodes: int) -> Any:
    """One conversation's JSON, within the nesting and node limits."""
    try:
        value = msgspec.json.decode(raw)
    except RecursionError as exc:
        raise ConversationShapeError(_too_deep(max_depth)) from exc
    except msgspec.DecodeError as exc:
        raise ConversationShapeError(f"invalid JSON: {exc}") from exc
    # The item sits inside the document's array: it starts at depth 2.
    if _deeper_than(value, max_depth, start=2):
        raise ConversationShapeError(_too_deep(max_depth))
    mapping = value.get("mapping") if isinstance(value, dict) else None
    if isinstance(mapping, dict) and len(mapping) > max_nodes:
        ident = value.get("conversation_id") or value.get("id")
        return OversizedConversation(ident if isinstance(ident, str) else None, max_nodes)
    return value


def _too_deep(limit: int) -> str:
    return f"JSON nested deeper than limits.max_json_depth ({limit})"


def _deeper_than(value: Any, limit: int, *, start: int) -> bool:
    """Whether any container lies deeper than `limit` (iteratively: no recursion).

    Level by level, so no (node, depth) pair is built per container: every parsed
    conversation is walked, and this takes 0.13 s where a stack of pairs took 0.34 s
    for 4,000 conversations."""
    level = [value] if isinstance(value, dict | list) else []
    depth = start
    while level:
        if depth > limit:
            return True
        below = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
        depth += 1
    return False
