"""File names mentioned in message text: the weakest evidence, and never across conversations.

Two rules, both only with `matching.text_mentions`:
1. A mention of a file already tied to the conversation (by a pointer, its folder, …)
   links that file to the mentioning message (confidence 0.4; the matcher does this).
2. A file that nothing claims, whose exact name (compared without regard to case) is
   mentioned in exactly one conversation, links to each message of that conversation
   that mentions it (`UNCLAIMED_CONFIDENCE`). Older exports hold such files at their
   root with no pointer at all (`budget_1234.pdf`, "I uploaded budget_1234.pdf
   earlier"). Named in two or more conversations, it links to none of them, and
   `unresolved` lists each of those mentions as an `ambiguous_mention`.

A file is claimed when any copy of it (any occurrence of its digest) has a file id that a
conversation's reference names (pointer, attachment, code-interpreter image, library
entry), sits in a conversation's folder, or is a generated image known by its generation
folder or its size. Claims depend on every conversation, so the keys that can change them
are handed to the matcher's `affected`. The SQL of these rules is in
mediasyncd.index.conversation_links (`unclaimed_sql`, `conversations_using`).
"""

from __future__ import annotations

from typing import Final

UNCLAIMED_CONFIDENCE: Final = 0.3
