"""The ChatGPT kind: data exports and privacy-request archives, linked to conversations
and messages. Registered in mediasyncd.kinds.

The handlers, matcher and keys are imported when first asked for: `status` reads this
registry too, and importing the readers cost it about 100 ms (tests/test_kinds.py checks
the constants below against the handler's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mediasyncd.kinds import Kind

if TYPE_CHECKING:
    from mediasyncd.config import Config
    from mediasyncd.index import Index
    from mediasyncd.matching import SubjectMatcher
    from mediasyncd.sources.base import SourceHandler

SUBJECT = "conversation"
COUNTERS = ("conversations_new", "conversations_changed")


def _handlers() -> list[SourceHandler]:
    from mediasyncd.conversations.handler import ChatGPTExportHandler, PrivacyArchiveHandler

    # The privacy archive first: it breaks ties with an export that it contains.
    return [PrivacyArchiveHandler(), ChatGPTExportHandler()]


def _matcher(config: Config) -> SubjectMatcher:
    from mediasyncd.conversations.matcher import ConversationMatcher

    return ConversationMatcher(config)


def _loose_keys(path: str, size: int, is_image: bool) -> Iterable[tuple[str, str, str | None]]:
    """File ids, conversation folders and names: a file copied out of an export matches
    like the export's own member."""
    from mediasyncd.conversations.keys import keys_for_member

    return keys_for_member(path, size=size, is_image=is_image)


def _status(index: Index) -> dict[str, Any]:
    from mediasyncd.index import status

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
