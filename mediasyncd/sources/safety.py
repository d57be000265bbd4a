"""Rules that keep a hostile archive from harming anything: names, sizes, ratios, depth.

mediasyncd never extracts members to paths, so a `../` name could not escape the state
dir anyway; such members are still rejected and named, because an export never contains
them and the user should know the archive is not what it claims to be.
"""

from __future__ import annotations

import itertools
import re
import stat
import struct
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from mediasyncd.config import LimitsConfig

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_name_reason(name: str) -> str | None:
    """Why a member name is unsafe, or None when it is fine."""
    if "\x00" in name:
        return "member name contains a NUL byte"
    if "\\" in name:
        return "member name contains a backslash (a Windows path separator)"
    if name.startswith("/"):
        return "member name is an absolute path"
    if _DRIVE.match(name):
        return "member name starts with a drive letter"
    if ".." in name.split("/"):
        return "member name climbs out of the archive with '..'"
    return None


def is_symlink_member(info: zipfile.ZipInfo) -> bool:
    # Unix zips keep st_mode in the high 16 bits of external_attr.
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def display_name(name: str) -> str:
    """A name safe to store as TEXT: undecodable bytes from the filesystem become escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class Budget:
    """What one source may still consume: total bytes and member count (zip-bomb guard)."""

    limits: LimitsConfig
    bytes_used: int = 0
    members_seen: int = 0

    def remaining_bytes(self) -> int:
        return max(0, self.limits.max_total_bytes - self.bytes_used)


def zip_member_limit_reason(info: zipfile.ZipInfo, limits: LimitsConfig) -> str | None:
    if info.file_size > limits.max_member_bytes:
        return (
            f"member declares {info.file_size} bytes, over limits.max_member_bytes "
            f"({limits.max_member_bytes})"
        )
    if info.compress_size > 0:
        ratio = info.file_size / info.compress_size
        # Tiny members compress absurdly well (a 1 kB file of zeros); only ratios on
        # members big enough to hurt count.
        if ratio > limits.max_ratio and info.file_size > 1024 * 1024:
            return f"member expands {ratio:.0f}:1, over limits.max_ratio ({limits.max_ratio:g}:1)"
    elif info.file_size > 0 and info.compress_type != zipfile.ZIP_STORED:
        return "member declares data but no compressed bytes"
    return None


def overlapping_entries(infos: list[zipfile.ZipInfo]) -> str | None:
    """Members whose data overlaps another's local header: "A better zip bomb" (Fifield).

    Python 3.11 before 3.11.8 does not check this itself (CVE-2024-0450).
    """
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for current, following in itertools.pairwise(ordered):
        # A lower bound of where this member's data ends (the local extra field and a data
        # descriptor can only add to it), so a well-formed zip never trips this check.
        end = current.header_offset + 30 + _raw_name_length(current) + current.compress_size
        if following.header_offset < end:
            return (
                f"members {current.filename!r} and {following.filename!r} overlap: "
                "a zip bomb or a damaged archive"
            )
    return None


def _raw_name_length(info: zipfile.ZipInfo) -> int:
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        return len(info.orig_filename.encode(encoding))
    except UnicodeEncodeError:
        return len(info.orig_filename.encode("utf-8", "replace"))


_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL_FIXED = 46
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


def count_central_records(handle: BinaryIO, stop_after: int) -> int:
    """How many central-directory records the zip holds, counted from the raw directory
    and stopping once past `stop_after`, before `zipfile` builds an object per member
    (about 800 bytes each: a million-member zip costs ~0.9 GB just to list). Returns 0
    when the directory cannot be found; zipfile then says what is wrong."""
    span = central_directory_span(handle)
    if span is None:
        return 0
    return _count_records(handle, span[0], span[1], stop_after)


def central_directory_span(handle: BinaryIO) -> tuple[int, int] | None:
    """Where the central directory is, [start, end), read from the end records; None
    when they cannot be found."""
    handle.seek(0, 2)
    size = handle.tell()
    tail_start = max(0, size - _EOCD.size - 0xFFFF)
    handle.seek(tail_start)
    tail = handle.read(size - tail_start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        return None
    cd_size = _EOCD.unpack_from(tail, at)[5]
    end = tail_start + at
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        # ZIP64: the real directory size is in the ZIP64 end record just before the locator.
        record_at = tail_start + locator_at - _ZIP64_EOCD.size
        handle.seek(max(0, record_at))
        record = handle.read(_ZIP64_EOCD.size)
        if len(record) != _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
            return None
        cd_size = _ZIP64_EOCD.unpack(record)[8]
        end = record_at
    return max(0, end - cd_size), end


def _count_records(handle: BinaryIO, start: int, end: int, stop_after: int) -> int:
    count = 0
    handle.seek(start)
    buffer = b""
    at = 0  # position of the next record in `buffer`
    left = end - start
    while count <= stop_after:
        if len(buffer) - at < _CENTRAL_FIXED or _record_length(buffer, at) > len(buffer) - at:
            if not left:
                break
            chunk = handle.read(min(1 << 20, left))
            if not chunk:
                break
            left -= len(chunk)
            buffer = buffer[at:] + chunk
            at = 0
            continue
        if buffer[at : at + 4] != b"PK\x01\x02":
            break
        at += _record_length(buffer, at)
        count += 1
    return count


def _record_length(buffer: bytes, at: int) -> int:
    name_length, extra_length, comment_length = struct.unpack_from("<3H", buffer, at + 28)
    return int(_CENTRAL_FIXED + name_length + extra_length + comment_length)
