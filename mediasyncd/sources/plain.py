"""A plain folder or zip of media files: every member is stored, nothing is interpreted.

It is the fallback when no other handler recognises a drop, so it claims everything with
the lowest non-zero score. Member paths still yield keys (file ids, conversation folders,
names), so a later export that points at these files finds them.
"""

from __future__ import annotations

from collections.abc import Iterable

from mediasyncd.conversations.keys import keys_for_member
from mediasyncd.mediatype import kind_of
from mediasyncd.sources.base import OccurrenceKey, Role, SourceHandler, SourceProbe
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult


class PlainMediaHandler(SourceHandler):
    kind = "plain"

    def detect(self, probe: SourceProbe) -> int:
        return 1

    def role(self, member: Member) -> Role | None:
        return "media"

    def keys(self, member: Member, stored: PutResult) -> Iterable[OccurrenceKey]:
        # Loose files keep the ids and folders their names carry (a user may drop files
        # copied out of an export), so they match like the export's own members.
        is_image = kind_of(stored.mime) == "image"
        for kind, key, extra in keys_for_member(member.path, size=stored.size, is_image=is_image):
            yield OccurrenceKey(kind, key, extra)
