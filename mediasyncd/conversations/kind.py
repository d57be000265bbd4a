"""The ChatGPT kind: data exports and privacy-request archives, linked to conversations
and messages. Registered in mediasyncd.kinds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mediasyncd.config import Config
from mediasyncd.conversations.handler import (
    COUNTERS,
    SUBJECT,
    ChatGPTExportHandler,
    PrivacyArchiveHandler,
)
from mediasyncd.conversations.keys import keys_for_member
from mediasyncd.conversations.matcher import ConversationMatcher
from mediasyncd.index import Index, status
from mediasyncd.kinds import Kind
from mediasyncd.matching import SubjectMatcher
from mediasyncd.sources.base import SourceHandler


def _handlers() -> list[SourceHandler]:
    # The privacy archive first: it breaks ties with an export that it contains.
    return [PrivacyArchiveHandler(), ChatGPTExportHandler()]


def _matcher(config: Config) -> SubjectMatcher:
    return ConversationMatcher(config)


def _loose_keys(path: str, size: int, is_image: bool) -> Iterable[tuple[str, str, str | None]]:
    """File ids, conversation folders and names: a file copied out of an export matches
    like the export's own member."""
    return keys_for_member(path, size=size, is_image=is_image)


def _status(index: Index) -> dict[str, Any]:
    conversations, messages = status.conversation_counts(index)
    return {"conversations": conversations, "messages": messages}


CHATGPT = Kind(
    name="chatgpt",
    subject=SUBJECT,
    handlers=_handlers,
    matcher=_matcher,
    rematched="rematched_conversations",
    counters=COUNTERS,
    loose_keys=_loose_keys,
    status=_status,
)
