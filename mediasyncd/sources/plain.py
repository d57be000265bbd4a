"""A plain folder or zip of media files: every member is stored, nothing is interpreted.

It is the fallback when no other handler recognises a drop, so it claims everything with
the lowest non-zero score. Member paths still yield keys (file ids, conversation folders,
names: each kind says which, mediasyncd.kinds), so a later export that points at these
files finds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from mediasyncd.sources.base import OccurrenceKey, Role, SourceHandler, SourceProbe
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult
from mediasyncd.store.mediatype import kind_of

# The keys a loose file at a member path can satisfy: (path, size, is_image) -> keys.
LooseKeys = Callable[[str, int, bool], Iterable[tuple[str, str, str | None]]]


class PlainMediaHandler(SourceHandler):
    kind = "plain"

    def __init__(self, loose_keys: Sequence[LooseKeys] = ()):
        self.loose_keys = list(loose_keys)

    def detect(self, probe: SourceProbe) -> int:
        return 1

    def role(self, member: Member) -> Role | None:
        return "media"

    def keys(self, member: Member, stored: PutResult) -> Iterable[OccurrenceKey]:
        # Loose files keep the ids and folders their names carry (a user may drop files
        # copied out of an export), so they match like the export's own members.
        is_image = kind_of(stored.mime) == "image"
        for keys_of in self.loose_keys:
            for kind, key, extra in keys_of(member.path, stored.size, is_image):
                yield OccurrenceKey(kind, key, extra)
