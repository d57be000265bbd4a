"""The plain media handler: the fallback that stores everything and keys media by name."""

from __future__ import annotations

import io
from pathlib import Path

from mediasyncd.kinds import all_handlers
from mediasyncd.sources.base import SourceProbe
from mediasyncd.sources.container import Member
from mediasyncd.sources.plain import PlainMediaHandler
from mediasyncd.store import PutResult


def _member(path: str) -> Member:
    return Member(path=path, size=3, opener=lambda: io.BytesIO(b"abc"))


def test_claims_everything_with_the_lowest_score() -> None:
    """Any drop scores 1: it wins only when no specific reader recognises the drop."""
    probe = SourceProbe(Path("/d"), True, ["x.bin"], lambda _p, _n: b"")
    assert PlainMediaHandler().detect(probe) == 1


def test_every_member_is_media_and_nothing_is_expanded() -> None:
    """Every member is stored as media; nested zips stay files."""
    handler = PlainMediaHandler()
    assert handler.role(_member("a/b.zip")) == "media"
    assert handler.expand("a/b.zip") is False
    assert handler.want_sha256(_member("a.png")) is False


def test_members_keep_the_keys_their_names_carry() -> None:
    """Loose files are keyed by their lower-case name, and by a file id when the name
    carries one (the keys each kind registers), so a later export that points at them
    finds them."""
    handler = all_handlers()[-1]
    assert isinstance(handler, PlainMediaHandler)
    png = PutResult("0" * 32, 3, True, "image/png")
    keys = {(k.key_kind, k.key) for k in handler.keys(_member("Photos/Report_Q3.PNG"), png)}
    assert keys == {("filename", "report_q3.png")}
    named = {(k.key_kind, k.key) for k in handler.keys(_member("file-AbC123XyZ-photo.png"), png)}
    assert ("file_id", "file-AbC123XyZ") in named


def test_interpret_does_nothing() -> None:
    """A plain drop has no documents to read: interpret touches nothing."""
    result = PlainMediaHandler().interpret(None)  # type: ignore[arg-type]
    assert (result.counts, result.touched, result.changed_keys) == ({}, {}, set())


def test_without_kinds_a_member_has_no_keys() -> None:
    """The handler itself knows no key rules: they come from the kinds' registry."""
    png = PutResult("0" * 32, 3, True, "image/png")
    assert list(PlainMediaHandler().keys(_member("file-AbC123XyZ-photo.png"), png)) == []
