"""Walking folders, zips and nested zips as member streams, with every safety rule."""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mediasyncd.config import LimitsConfig
from mediasyncd.errors import SourceError
from mediasyncd.sources.container import (
    ContainerWalker,
    Member,
    Rejected,
    ZipWindow,
    is_junk,
    is_zip_file,
)
from tests.helpers import (
    central_entries,
    make_zip,
    media_bytes,
    patch_bytes,
    set_central_field,
    symlink_info,
    write_files,
    zip_bytes,
)


@dataclasses.dataclass
class Walked:
    """What a walk yielded, with every member's bytes read while its archive was open
    (members are streams: they can only be opened during the walk)."""

    items: list[Member | Rejected]
    contents: dict[str, bytes]


def walk(
    source: Path,
    spool: Path,
    limits: LimitsConfig | None = None,
    expand: Callable[[str], bool] = lambda _p: False,
) -> Walked:
    walker = ContainerWalker(source, limits or LimitsConfig(), spool_dir=spool, expand=expand)
    items: list[Member | Rejected] = []
    contents: dict[str, bytes] = {}
    for item in walker.walk():
        items.append(item)
        if isinstance(item, Member):
            with item.open() as stream:
                contents[item.path] = stream.read()
    return Walked(items, contents)


def members(walked: Walked) -> dict[str, bytes]:
    return walked.contents


def rejected(walked: Walked) -> dict[str, str]:
    return {item.path: item.reason for item in walked.items if isinstance(item, Rejected)}


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "state" / "tmp"


# -- folders -------------------------------------------------------------------------------


def test_folder_members_in_sorted_order_with_stat(tmp_path: Path, spool: Path) -> None:
    """A folder yields its files in a stable order, with what the file cache needs."""
    files = {
        "b.png": media_bytes(100, 1),
        "a/z.jpg": media_bytes(50, 2, "jpeg"),
        "a/b/c.gif": b"GIF89a",
    }
    root = write_files(tmp_path / "drop", files)
    walked = walk(root, spool)
    # os.walk order: a folder's files (sorted), then its subfolders (sorted).
    assert [i.path for i in walked.items] == ["b.png", "a/z.jpg", "a/b/c.gif"]
    assert members(walked) == files
    first = next(i for i in walked.items if isinstance(i, Member) and i.path == "b.png")
    st = (root / "b.png").stat()
    assert (first.size, first.inode, first.device, first.mtime_ns) == (
        100,
        st.st_ino,
        st.st_dev,
        st.st_mtime_ns,
    )
    assert first.disk_path == root / "b.png" and first.crc32 is None


def test_folder_walk_order_is_deterministic(tmp_path: Path, spool: Path) -> None:
    """Two walks of the same folder list the same members in the same order."""
    root = write_files(
        tmp_path / "drop", {f"d{i % 3}/f{i}.png": media_bytes(10, i) for i in range(12)}
    )
    first = [i.path for i in walk(root, spool).items]
    assert first == [i.path for i in walk(root, spool).items]
    assert len(first) == 12


def test_folder_skips_junk_and_rejects_links_and_specials(tmp_path: Path, spool: Path) -> None:
    """OS junk is skipped silently; symlinks and FIFOs are rejected by name, not followed."""
    root = write_files(
        tmp_path / "drop",
        {"a.png": b"\x89PNG", ".DS_Store": b"x", "__MACOSX/a.png": b"x", "Thumbs.db": b"x"},
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (root / "link.png").symlink_to(secret)
    os.mkfifo(root / "pipe")
    items = walk(root, spool)
    assert set(members(items)) == {"a.png"}
    assert rejected(items) == {
        "link.png": "symbolic link; not followed",
        "pipe": "a FIFO; not read",
    }


def test_folder_names_that_are_not_utf8(tmp_path: Path, spool: Path) -> None:
    """A file name with bytes that are not UTF-8 is kept, with an escaped display name."""
    root = tmp_path / "drop"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), b"caf\xe9.png"), "wb") as handle:
        handle.write(b"\x89PNG")
    items = walk(root, spool)
    assert [i.path for i in items.items] == ["caf\\xe9.png"]
    assert members(items) == {"caf\\xe9.png": b"\x89PNG"}


def test_folder_expands_zips_only_when_asked(tmp_path: Path, spool: Path) -> None:
    """A zip inside a folder is one member unless the handler expands it."""
    root = write_files(tmp_path / "drop", {"inner.zip": zip_bytes({"x.png": b"\x89PNGx"})})
    assert set(members(walk(root, spool))) == {"inner.zip"}
    assert members(walk(root, spool, expand=lambda p: True)) == {"inner.zip!/x.png": b"\x89PNGx"}


# -- single files and whole-source errors ---------------------------------------------------


def test_single_file_source(tmp_path: Path, spool: Path) -> None:
    """A dropped single file is one member named after itself."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media_bytes(300, kind="jpeg"))
    items = walk(photo, spool)
    assert members(items) == {"photo.jpg": photo.read_bytes()}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.zip", b"", "empty file"),
        ("empty.png", b"", "empty file"),
        ("fake.zip", b"this is not a zip at all", "named .zip but not a zip archive"),
    ],
)
def test_bad_single_files(
    tmp_path: Path, spool: Path, name: str, content: bytes, message: str
) -> None:
    """Empty files and fake zips fail the source with an error naming it."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as caught:
        walk(path, spool)
    assert caught.value.source == str(path) and caught.value.member is None
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_missing_and_symlinked_sources(tmp_path: Path, spool: Path) -> None:
    """A vanished source and a symlinked source are refused by name."""
    with pytest.raises(SourceError, match="cannot read"):
        walk(tmp_path / "gone.zip", spool)
    real = tmp_path / "real.png"
    real.write_bytes(b"\x89PNG")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    with pytest.raises(SourceError, match="symbolic link"):
        walk(link, spool)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(SourceError, match="is a FIFO; not read"):
        walk(tmp_path / "fifo", spool)


def test_truncated_zip(tmp_path: Path, spool: Path) -> None:
    """A zip cut short (no central directory) fails as truncated, naming the source."""
    full = make_zip(tmp_path / "full.zip", {f"{i}.png": media_bytes(5000, i) for i in range(4)})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(SourceError, match="truncated or damaged zip") as caught:
        walk(cut, spool)
    assert caught.value.source == str(cut)


def test_empty_zip_archive_has_no_members(tmp_path: Path, spool: Path) -> None:
    """A valid zip with nothing in it is fine and yields nothing."""
    path = make_zip(tmp_path / "empty.zip", {})
    assert is_zip_file(path)
    assert walk(path, spool).items == []


# -- zip members ------------------------------------------------------------------------


def test_zip_members_stream_with_crc(tmp_path: Path, spool: Path) -> None:
    """Zip members are read as streams with their CRC-32; folders and junk are skipped."""
    files = {"a/x.png": media_bytes(4000, 1), "y.wav": media_bytes(100, 2, "wav")}
    path = make_zip(
        tmp_path / "d.zip", [*files.items(), ("a/", b""), ("__MACOSX/._x.png", b"junk")]
    )
    items = walk(path, spool)
    assert members(items) == files
    for item in items.items:
        assert isinstance(item, Member) and item.crc32 == zipfile.crc32(files[item.path])
    assert not rejected(items)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape.png", "'..'"),
        ("a/../../escape.png", "'..'"),
        ("/etc/cron.d/evil", "absolute path"),
        ("C:/evil.png", "drive letter"),
        ("dir\\evil.png", "backslash"),
    ],
)
def test_unsafe_zip_names_are_rejected(tmp_path: Path, spool: Path, name: str, reason: str) -> None:
    """Zip-slip names are rejected by name; the other members still come through."""
    path = make_zip(
        tmp_path / "slip.zip", [(zipfile.ZipInfo(name), b"evil"), ("ok.png", b"\x89PNG")]
    )
    items = walk(path, spool)
    assert members(items) == {"ok.png": b"\x89PNG"}
    ((bad, why),) = rejected(items).items()
    assert bad == name and reason in why


def test_nul_in_zip_name_is_rejected(tmp_path: Path, spool: Path) -> None:
    """A name with a NUL byte (zipfile would silently cut it) is rejected, shown escaped."""
    path = make_zip(tmp_path / "nul.zip", {"evilXname.png": b"x", "ok.png": b"\x89PNG"})
    patch_bytes(path, b"evilXname", b"evil\x00name", expected=2)
    items = walk(path, spool)
    assert members(items) == {"ok.png": b"\x89PNG"}
    assert rejected(items) == {"evil\\x00name.png": "member name contains a NUL byte"}


def test_symlink_members_are_rejected(tmp_path: Path, spool: Path) -> None:
    """A member that unzip would restore as a symlink is rejected, not read."""
    path = make_zip(
        tmp_path / "ln.zip", [(symlink_info("link.png"), b"/etc/passwd"), ("ok.png", b"\x89PNG")]
    )
    items = walk(path, spool)
    assert members(items) == {"ok.png": b"\x89PNG"}
    assert rejected(items) == {"link.png": "symbolic link member; not followed"}


def test_duplicate_names_keep_the_first(tmp_path: Path, spool: Path) -> None:
    """Of two members with one name the first is used; the second is rejected and named."""
    path = make_zip(
        tmp_path / "dup.zip", [("a.png", b"\x89PNG first"), ("a.png", b"\x89PNG second")]
    )
    items = walk(path, spool)
    assert members(items) == {"a.png": b"\x89PNG first"}
    assert rejected(items) == {
        "a.png": "duplicate member name; the first entry with this name was used"
    }


def test_member_over_max_member_bytes(tmp_path: Path, spool: Path) -> None:
    """A member declaring more than max_member_bytes is rejected before it is read."""
    path = make_zip(
        tmp_path / "big.zip", {"big.png": media_bytes(5000), "small.png": media_bytes(100)}
    )
    items = walk(path, spool, LimitsConfig(max_member_bytes=1000))
    assert set(members(items)) == {"small.png"}
    assert "limits.max_member_bytes (1000)" in rejected(items)["big.png"]


def test_member_over_max_ratio(tmp_path: Path, spool: Path) -> None:
    """A member of zeros over 1 MiB expands far past 200:1 and is rejected."""
    path = make_zip(
        tmp_path / "bomb.zip", {"zeros.bin": bytes(4 * 1024 * 1024), "ok.png": media_bytes(100)}
    )
    items = walk(path, spool)
    assert set(members(items)) == {"ok.png"}
    assert "over limits.max_ratio (200:1)" in rejected(items)["zeros.bin"]


def test_source_over_max_total_bytes(tmp_path: Path, spool: Path) -> None:
    """Once a source has used max_total_bytes, later members are rejected."""
    path = make_zip(tmp_path / "t.zip", {f"{i}.png": media_bytes(100_000, i) for i in range(3)})
    items = walk(path, spool, LimitsConfig(max_total_bytes=250_000))
    assert set(members(items)) == {"0.png", "1.png"}
    assert "limits.max_total_bytes (250000)" in rejected(items)["2.png"]


def test_too_many_members_fails_the_source(tmp_path: Path, spool: Path) -> None:
    """An archive listing more than max_members entries is refused as a whole."""
    path = make_zip(tmp_path / "many.zip", {f"{i}.png": b"x" for i in range(5)})
    with pytest.raises(SourceError, match=r"over limits\.max_members \(3\)"):
        walk(path, spool, LimitsConfig(max_members=3))


def test_encrypted_member_is_rejected(tmp_path: Path, spool: Path) -> None:
    """A member flagged as encrypted cannot be read and is named."""
    path = make_zip(tmp_path / "enc.zip", {"secret.png": b"x" * 10, "ok.png": b"\x89PNG"})
    set_central_field(path, b"secret.png", "flag_bits", 0x1)
    items = walk(path, spool)
    assert rejected(items) == {"secret.png": "encrypted member; cannot be read"}


def test_overlapping_entries_fail_the_source(tmp_path: Path, spool: Path) -> None:
    """Entries whose data overlaps (a "better zip bomb") fail the whole source."""
    path = make_zip(
        tmp_path / "overlap.zip",
        {"a.png": media_bytes(10_000, 1), "b.png": media_bytes(10_000, 2)},
        compression=zipfile.ZIP_STORED,
    )
    set_central_field(path, b"b.png", "header_offset", 0)
    with pytest.raises(SourceError, match="overlap: a zip bomb or a damaged archive"):
        walk(path, spool)


def test_entry_starting_inside_another_entry_overlaps(tmp_path: Path, spool: Path) -> None:
    """A local header that starts inside another member's data is an overlap too."""
    path = make_zip(
        tmp_path / "inside.zip",
        {"a.png": media_bytes(10_000, 1), "b.png": media_bytes(10_000, 2)},
        compression=zipfile.ZIP_STORED,
    )
    inside = central_entries(path)[0].header_offset + 30 + 5 + 500
    set_central_field(path, b"b.png", "header_offset", inside)
    with pytest.raises(SourceError, match="overlap"):
        walk(path, spool)


def test_damaged_member_data_fails_on_read_not_walk(tmp_path: Path, spool: Path) -> None:
    """Flipped bytes in one member's compressed data surface when that member is read."""
    good = b"\x89PNG" + b"abc" * 20_000
    path = make_zip(tmp_path / "dmg.zip", {"a.png": good, "b.png": good[::-1]})
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    walker = ContainerWalker(path, LimitsConfig(), spool_dir=spool)
    seen = []
    for item in walker.walk():  # listing the members works ...
        assert isinstance(item, Member)
        seen.append(item.path)
        if item.path == "a.png":
            # ... reading the damaged one fails: zlib.error or a CRC BadZipFile.
            with pytest.raises(Exception), item.open() as stream:  # noqa: B017
                stream.read()
    assert seen == ["a.png", "b.png"]


# -- nested zips -------------------------------------------------------------------------


def _nested(depth: int, compression: int) -> bytes:
    """A zip nested `depth` levels deep: level{n}.zip inside level{n-1}.zip ..."""
    data = zip_bytes({"deep.png": b"\x89PNG deep"}, compression)
    for level in range(depth, 0, -1):
        data = zip_bytes({f"level{level}.zip": data, f"l{level}.png": b"\x89PNG l"}, compression)
    return data


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_nested_zips_read_in_place(tmp_path: Path, spool: Path, compression: int) -> None:
    """Nested zips the handler expands are read in place (stored: a window onto the outer
    file; deflated: spooled once inside the state dir) and the spool leaves nothing behind."""
    path = tmp_path / "outer.zip"
    path.write_bytes(_nested(1, compression))
    items = walk(path, spool, expand=lambda p: True)
    assert members(items) == {
        "level1.zip!/deep.png": b"\x89PNG deep",
        "l1.png": b"\x89PNG l",
    }
    deep = next(i for i in items.items if i.path.endswith("deep.png"))
    assert isinstance(deep, Member) and deep.name == "deep.png"
    assert not spool.exists() or list(spool.iterdir()) == []


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_nesting_depth_limit(tmp_path: Path, spool: Path, compression: int) -> None:
    """Zips nested deeper than max_nesting_depth are rejected and named; shallower ones are
    read."""
    path = tmp_path / "deep.zip"
    path.write_bytes(_nested(3, compression))
    items = walk(path, spool, LimitsConfig(max_nesting_depth=2), expand=lambda p: True)
    assert set(members(items)) == {"l1.png", "level1.zip!/l2.png", "level1.zip!/level2.zip!/l3.png"}
    assert rejected(items) == {
        "level1.zip!/level2.zip!/level3.zip": "zip nested deeper than limits.max_nesting_depth (2)"
    }


def test_nested_zip_not_expanded_is_one_member(tmp_path: Path, spool: Path) -> None:
    """Without expand, a zip in a zip is just a file (a zip someone uploaded to a chat)."""
    path = tmp_path / "outer.zip"
    path.write_bytes(_nested(1, zipfile.ZIP_STORED))
    assert set(members(walk(path, spool))) == {"level1.zip", "l1.png"}


def test_nested_members_count_against_limits(tmp_path: Path, spool: Path) -> None:
    """Inner members are checked against the same per-source limits as outer ones."""
    inner = zip_bytes({"zeros.bin": bytes(2 * 1024 * 1024)}, zipfile.ZIP_DEFLATED)
    path = make_zip(tmp_path / "o.zip", {"in.zip": inner}, compression=zipfile.ZIP_STORED)
    items = walk(path, spool, expand=lambda p: True)
    assert "max_ratio" in rejected(items)["in.zip!/zeros.bin"]


# -- helpers ------------------------------------------------------------------------------


def test_zip_window_is_a_seekable_slice() -> None:
    """ZipWindow reads exactly its slice of the base file and seeks within it."""
    base = io.BytesIO(b"0123456789abcdef")
    window = ZipWindow(base, 4, 6)  # "456789"
    assert window.readable() and window.seekable()
    assert window.read() == b"456789"
    assert window.read() == b""
    assert window.seek(-2, io.SEEK_END) == 4 and window.read() == b"89"
    assert window.seek(1) == 1 and window.read(2) == b"56"
    assert window.seek(1, io.SEEK_CUR) == 4 and window.tell() == 4
    assert window.seek(-100, io.SEEK_CUR) == 0


def test_is_junk_and_is_zip_file(tmp_path: Path) -> None:
    """OS junk names are recognised; a zip is recognised by its first bytes, not its name."""
    assert is_junk(".DS_Store") and is_junk("a/__MACOSX/b") and is_junk("x/Thumbs.db")
    assert not is_junk("a/photo.png")
    renamed = make_zip(tmp_path / "archive.bin", {"a": b"b"})
    assert is_zip_file(renamed)
    assert not is_zip_file(tmp_path / "missing")


def test_limits_dataclass_replace_keeps_defaults() -> None:
    """Tests narrow one limit at a time; the others keep their sane defaults."""
    narrowed = dataclasses.replace(LimitsConfig(), max_ratio=10.0)
    assert narrowed.max_member_bytes == LimitsConfig().max_member_bytes


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_damaged_nested_zip_is_one_rejected_member(
    tmp_path: Path, spool: Path, compression: int
) -> None:
    """A nested zip that cannot be read is rejected (marked damaged) by its path; the
    outer archive's other members still come through."""
    path = make_zip(
        tmp_path / "outer.zip",
        {
            "a.png": b"\x89PNG a",
            "broken.zip": b"PK\x03\x04 but nothing else",
            "z.png": b"\x89PNG z",
        },
        compression=compression,
    )
    walked = walk(path, spool, expand=lambda p: True)
    assert members(walked) == {"a.png": b"\x89PNG a", "z.png": b"\x89PNG z"}
    (bad,) = [i for i in walked.items if isinstance(i, Rejected)]
    assert bad.path == "broken.zip" and "truncated or damaged zip" in bad.reason
    assert bad.damaged
