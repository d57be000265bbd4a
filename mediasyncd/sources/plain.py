"""A plain folder or zip of media files: every member is stored, nothing is interpreted.

It is the fallback when no other handler recognises a drop, so it claims everything with
the lowest non-zero score. File names still yield keys (the basename), so a later export
that mentions `report_q3.pdf` can find the file.
"""

from __future__ import annotations

from collections.abc import Iterable

from mediasyncd.mediatype import is_media
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
        if is_media(stored.mime):
            yield OccurrenceKey("filename", member.name.lower())
