"""File names as index text: one text per name, the name back from its text."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from mediasyncd.fs.pathtext import name_from_text, path_from_text, path_text


def test_utf8_names_without_backslash_are_kept_as_they_are() -> None:
    for name in ("photo.png", "/srv/drop/résumé 2024.zip", "日本語/写真.jpg", ""):
        assert path_text(name) == name


def test_undecodable_bytes_and_backslashes_are_escaped() -> None:
    assert path_text(os.fsdecode(b"top\xff.png")) == "top\\xff.png"
    assert path_text("a\\b.png") == "a\\\\b.png"
    # A literal "\xe9" in a name and the byte 0xe9 stay two different texts.
    assert path_text(os.fsdecode(b"caf\xe9")) != path_text("caf\\xe9")


@settings(derandomize=True, max_examples=300)
@given(st.binary(min_size=1, max_size=40).filter(lambda b: not set(b) & {0, 0x2F}))
def test_every_byte_name_comes_back(raw: bytes) -> None:
    """Any Linux name (bytes but NUL and '/') maps to valid UTF-8 text and back exactly."""
    name = os.fsdecode(raw)
    text = path_text(name)
    text.encode("utf-8")  # storable in SQLite and printable
    assert name_from_text(text) == name
    assert os.fsencode(path_from_text(text)) == raw


@settings(derandomize=True, max_examples=300)
@given(st.binary(max_size=12), st.binary(max_size=12))
def test_two_names_never_share_a_text(a: bytes, b: bytes) -> None:
    if a != b:
        assert path_text(os.fsdecode(a)) != path_text(os.fsdecode(b))
