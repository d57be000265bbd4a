"""Folder and file names: readable, safe on every filesystem, deterministic."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from mediasyncd.export import naming


def test_folder_name_has_date_slug_and_short_id() -> None:
    """`YYYY-MM-DD_<slug>_<short id>` from the create time (UTC), title and id."""
    name = naming.folder_name("6a1f2c3d-0000-4000-8000-00000000a001", "Trip to Oslo!", 1714560000)
    assert name == "2024-05-01_trip-to-oslo_6a1f2c3d"


def test_null_empty_and_symbol_only_titles_are_untitled() -> None:
    """No title, an empty one or one without letters still gives a readable folder."""
    for title in (None, "", "   ", "!!!", "<>/\\"):
        assert naming.slugify(title) == "untitled"
    assert naming.folder_name("abcd1234", None, None) == "undated_untitled_abcd1234"


def test_slug_keeps_letters_of_any_script() -> None:
    """Non-English titles stay readable; an emoji's variation selector does not survive."""
    assert naming.slugify("Привет, мир") == "привет-мир"
    assert naming.slugify("नमस्ते दुनिया") == "नमस्ते-दुनिया"
    assert naming.slugify("Trip 🏔️ notes") == "trip-notes"


def test_path_like_and_reserved_titles_cannot_escape() -> None:
    """`..`, separators and device names in a title never become path parts."""
    for title in ("../../etc/passwd", "..", "a/b\\c", "CON", "nul.txt", "x\x00y\nz"):
        name = naming.folder_name("abcd1234", title, 0)
        assert naming.is_safe_component(name), name
        assert "/" not in name and "\\" not in name and ".." not in name


def test_long_title_is_bounded() -> None:
    """A 10,000-character title gives a folder name well under filesystem limits."""
    name = naming.folder_name("abcd1234", "ж" * 10_000, 0)
    assert len(name.encode()) < 200
    assert name.endswith("_abcd1234")


def test_short_id_of_odd_ids() -> None:
    """Ids without enough letters or digits fall back to a hash; case is folded."""
    assert naming.short_id("ABCDEF12-3456") == "abcdef12"
    odd = naming.short_id("../!")
    assert len(odd) == 8 and all(c in string.hexdigits for c in odd)
    assert naming.short_id("../!") == odd


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.text(max_size=60), st.floats(allow_nan=True))
def test_any_title_and_id_give_a_safe_component(title: str, ident: str, when: float) -> None:
    """Whatever the title, id and time, the folder name is one safe path component."""
    name = naming.folder_name(ident, title, when)
    assert naming.is_safe_component(name)
    assert len(name.encode("utf-8", "surrogatepass")) <= 200


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_file_name_is_safe_or_rejected(raw: str) -> None:
    """An untrusted attachment name becomes a safe component with an extension, or None."""
    name = naming.safe_file_name(raw, "image/png")
    if name is not None:
        assert naming.is_safe_component(name), name
        assert len(name.encode("utf-8", "surrogatepass")) <= naming.NAME_MAX_BYTES
        assert "." in name
        assert name.split(".", 1)[0].upper() not in naming.WINDOWS_RESERVED


def test_file_name_rules() -> None:
    """Only the last component counts; .dat and missing extensions come from the type;
    device names are prefixed; leading dots and control characters go."""
    assert naming.safe_file_name("../../x/photo.jpeg", "image/jpeg") == "photo.jpeg"
    assert naming.safe_file_name("C:\\Users\\me\\a.png", "image/png") == "a.png"
    assert naming.safe_file_name("file-abc.dat", "image/webp") == "file-abc.webp"
    assert naming.safe_file_name("notes", "application/pdf") == "notes.pdf"
    assert naming.safe_file_name("CON.png", "image/png") == "_CON.png"
    assert naming.safe_file_name("con.tar.gz", "application/gzip") == "_con.tar.gz"
    assert naming.safe_file_name(".hidden.png", "image/png") == "hidden.png"
    assert naming.safe_file_name("a\x00b\u202ec.png", "image/png") == "a_bc.png"
    assert naming.safe_file_name("..", "image/png") is None
    assert naming.safe_file_name("", "image/png") is None


def test_names_from_members_are_ranked() -> None:
    """`file-<id>-name` gives the name; a bare id name is a last resort; .dat is no name."""
    assert naming.name_from_member("file-AbC123-IMG_0617.jpeg") == (1, "IMG_0617.jpeg")
    assert naming.name_from_member(f"file_{'0a' * 16}-clip.wav") == (1, "clip.wav")
    assert naming.name_from_member("Z9OIdCXqnSiaH6bc.png") == (1, "Z9OIdCXqnSiaH6bc.png")
    assert naming.name_from_member("file-AbC123.png") == (3, "file-AbC123.png")
    assert naming.name_from_member("file-AbC123.dat") is None


def test_collisions_resolve_in_order_and_case_insensitively() -> None:
    """The first file keeps the name; later ones get their digest; `A.png` = `a.png`."""
    d1, d2, d3 = "1" * 32, "2" * 32, "3" * 32
    names = naming.unique_names([(d1, "photo.png"), (d2, "Photo.png"), (d3, "photo.png")])
    assert names == {d1: "photo.png", d2: "Photo-22222222.png", d3: "photo-33333333.png"}
    assert naming.unique_names([(d2, "x.png"), (d2, "y.png")]) == {d2: "x.png"}
