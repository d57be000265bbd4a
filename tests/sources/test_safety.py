"""Member-name, size, ratio and overlap rules for hostile archives."""

from __future__ import annotations

import zipfile

import pytest

from mediasyncd.config import LimitsConfig
from mediasyncd.sources.safety import (
    Budget,
    display_name,
    is_symlink_member,
    overlapping_entries,
    unsafe_name_reason,
    zip_member_limit_reason,
)
from tests.helpers import symlink_info


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.png", "'..'"),
        ("a/../../evil.png", "'..'"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.png", "drive letter"),
        ("c:evil.png", "drive letter"),
        ("dir\\evil.png", "backslash"),
        ("..\\..\\evil.png", "backslash"),
        ("a\x00b.png", "NUL"),
    ],
)
def test_unsafe_names(name: str, reason: str) -> None:
    """Climbing, absolute, drive-letter, backslash and NUL names are refused with a reason."""
    found = unsafe_name_reason(name)
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "name", ["a.png", "dir/sub/a.png", "..a.png", "a..b/c.png", "dir/", "file-abc.dat", "é.png"]
)
def test_safe_names(name: str) -> None:
    """Ordinary names, including ones with dots that do not climb, are fine."""
    assert unsafe_name_reason(name) is None


def test_symlink_member_detected() -> None:
    """A Unix zip entry with S_IFLNK in its mode is a symlink member; others are not."""
    assert is_symlink_member(symlink_info("link.png"))
    assert not is_symlink_member(zipfile.ZipInfo("file.png"))
    dos = symlink_info("dos.png")
    dos.create_system = 0  # mode bits mean nothing for DOS-made entries
    assert not is_symlink_member(dos)


def test_display_name_escapes_undecodable_bytes() -> None:
    """Names from the filesystem with bytes that are not UTF-8 become readable escapes."""
    raw = b"caf\xe9.png".decode("utf-8", "surrogateescape")
    assert display_name(raw) == "caf\\xe9.png"
    assert display_name("plain.png") == "plain.png"


def _info(size: int, compressed: int, kind: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("m.bin")
    info.file_size = size
    info.compress_size = compressed
    info.compress_type = kind
    return info


def test_member_size_limit() -> None:
    """A member declaring more than max_member_bytes is refused, naming the limit."""
    limits = LimitsConfig(max_member_bytes=1000)
    reason = zip_member_limit_reason(_info(1001, 1001, zipfile.ZIP_STORED), limits)
    assert reason is not None and "limits.max_member_bytes (1000)" in reason
    assert zip_member_limit_reason(_info(1000, 1000, zipfile.ZIP_STORED), limits) is None


def test_ratio_limit_only_for_members_over_one_mebibyte() -> None:
    """A ratio over max_ratio is refused for big members; tiny ones compress freely."""
    limits = LimitsConfig(max_ratio=200)
    big = zip_member_limit_reason(_info(2 * 1024 * 1024, 2048), limits)
    assert big is not None and "1024:1" in big and "limits.max_ratio (200:1)" in big
    assert zip_member_limit_reason(_info(1000, 1), limits) is None
    assert zip_member_limit_reason(_info(2 * 1024 * 1024, 20_000), limits) is None


def test_compressed_member_with_no_bytes_is_refused() -> None:
    """A deflated member that claims data but has no compressed bytes is a lie."""
    reason = zip_member_limit_reason(_info(5000, 0), LimitsConfig())
    assert reason is not None and "no compressed bytes" in reason
    assert zip_member_limit_reason(_info(0, 0, zipfile.ZIP_STORED), LimitsConfig()) is None


def _at(name: str, offset: int, compressed: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.header_offset = offset
    info.compress_size = compressed
    return info


def test_overlapping_entries_detected() -> None:
    """Entries sharing data (Fifield's "better zip bomb") are found, in any order."""
    assert overlapping_entries([_at("a", 0, 100), _at("b", 0, 100)]) is not None
    inside = overlapping_entries([_at("b", 50, 10), _at("a", 0, 100)])
    assert inside is not None and "'a' and 'b' overlap" in inside


def test_back_to_back_entries_do_not_overlap() -> None:
    """A well-formed layout (header + name + data, then the next header) passes."""
    first = _at("a", 0, 100)
    second = _at("b", 30 + 1 + 100, 5)
    assert overlapping_entries([first, second]) is None
    assert overlapping_entries([]) is None


def test_budget_remaining_never_negative() -> None:
    """The per-source byte budget counts down to zero, not below."""
    budget = Budget(LimitsConfig(max_total_bytes=100))
    budget.bytes_used = 150
    assert budget.remaining_bytes() == 0
