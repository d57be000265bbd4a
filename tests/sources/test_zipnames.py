"""Zips whose names are marked UTF-8 but are not: read as CP437, member by member."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from mediasyncd.config import LimitsConfig
from mediasyncd.sources.container import ContainerWalker, Member, Rejected
from mediasyncd.sources.zipnames import open_zip
from tests.helpers import make_zip, patch_bytes, set_utf8_flags, zip_bytes


def _falsely_marked(path: Path) -> Path:
    make_zip(path, {"ok.txt": b"fine", "na_ve.txt": b"latin"}, compression=zipfile.ZIP_DEFLATED)
    patch_bytes(path, b"na_ve", b"na\x8bve", expected=2)  # CP437 0x8b is "ï"
    set_utf8_flags(path)
    return path


def test_names_falsely_marked_utf8_are_read_as_cp437(tmp_path: Path) -> None:
    path = _falsely_marked(tmp_path / "w.zip")
    with open(path, "rb") as handle, open_zip(handle) as archive:
        assert archive.namelist() == ["ok.txt", "naïve.txt"]
        assert archive.read("naïve.txt") == b"latin"
        assert archive.read("ok.txt") == b"fine"


def test_honest_zips_open_as_zipfile_opens_them(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "h.zip", {"résumé.txt": b"utf8"})
    with open(path, "rb") as handle, open_zip(handle) as archive:
        assert archive.namelist() == ["résumé.txt"]


def test_nested_zip_whose_local_name_is_falsely_marked_utf8_is_rejected(
    tmp_path: Path,
) -> None:
    """Found by atheris: an inner zip whose local header (not its central record) has a
    name marked UTF-8 that is not. zipfile raises UnicodeDecodeError when it opens it; the
    inner zip is rejected as damaged and the rest of the drop is read."""
    inner = zip_bytes({"a.png": b"\x89PNG inner"})
    outer = make_zip(tmp_path / "o.zip", {"Files__1.zip": inner, "b.txt": b"hello"})
    data = bytearray(outer.read_bytes())
    local = data.find(b"PK\x03\x04")  # the first member's local header
    name_at = local + 30
    assert data[name_at : name_at + 12] == b"Files__1.zip"
    data[name_at] = 0xCC
    struct.pack_into("<H", data, local + 6, struct.unpack_from("<H", data, local + 6)[0] | 0x800)
    outer.write_bytes(bytes(data))
    walker = ContainerWalker(
        outer, LimitsConfig(), spool_dir=tmp_path / "spool", expand=lambda _p: True
    )
    items = list(walker.walk())
    assert [i.path for i in items if isinstance(i, Member)] == ["b.txt"]
    (bad,) = [i for i in items if isinstance(i, Rejected)]
    assert bad.path == "Files__1.zip" and bad.damaged
