"""Opening zips whose member names are marked UTF-8 but are not.

Some zippers set the UTF-8 flag (bit 11) on names written in a DOS code page. `zipfile`
then refuses the whole archive with a UnicodeDecodeError for one such name. Here the
archive is opened through a view that clears the flag on exactly those entries (central
record and local header), so their names are read as CP437, the zip standard's default:
every byte maps to one character, so nothing is lost and every member is read.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable
from typing import BinaryIO, cast

from mediasyncd.sources.safety import central_directory_span

_UTF8_FLAG = 0x800
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # the fixed part of a central record (46 bytes)


def open_zip(handle: BinaryIO) -> zipfile.ZipFile:
    """`zipfile.ZipFile(handle)`, reading names that are falsely marked UTF-8 as CP437."""
    try:
        return zipfile.ZipFile(handle)
    except UnicodeDecodeError:
        central, records = _false_utf8_flags(handle)
        if not central:
            raise
        view = _FlagClearingView(handle, central)
        archive = zipfile.ZipFile(cast(BinaryIO, view))
        # The local headers carry the flag too; where they are, zipfile knows best (it
        # corrects the offsets of a zip with data in front).
        infos = archive.infolist()
        view.clear_flags_at(infos[i].header_offset + 6 for i in records if i < len(infos))
        return archive


def _false_utf8_flags(handle: BinaryIO) -> tuple[set[int], list[int]]:
    """The offsets of the central records' flag fields marked UTF-8 whose names are not,
    and those records' positions in the directory."""
    span = central_directory_span(handle)
    if span is None:
        return set(), []
    start, end = span
    handle.seek(start)
    directory = handle.read(end - start)
    offsets: set[int] = set()
    records: list[int] = []
    at = number = 0
    while at + _CENTRAL.size <= len(directory) and directory[at : at + 4] == b"PK\x01\x02":
        fields = _CENTRAL.unpack_from(directory, at)
        flag_bits, name_length, extra_length, comment_length = fields[3], *fields[10:13]
        name = directory[at + _CENTRAL.size : at + _CENTRAL.size + name_length]
        if flag_bits & _UTF8_FLAG and not _is_utf8(name):
            offsets.add(start + at + 8)
            records.append(number)
        at += _CENTRAL.size + name_length + extra_length + comment_length
        number += 1
    return offsets, records


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _FlagClearingView(io.RawIOBase):
    """A read-only view of a seekable file with bit 11 cleared in the given 2-byte
    little-endian flag fields. It keeps its own position: the walker reads local headers
    through the same file object in between."""

    def __init__(self, base: BinaryIO, flag_offsets: set[int]):
        self._base = base
        self._offsets = sorted(flag_offsets)
        self._pos = 0

    def clear_flags_at(self, offsets: Iterable[int]) -> None:
        self._offsets = sorted({*self._offsets, *offsets})

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._base.seek(offset, io.SEEK_END)
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        start = self._pos
        self._base.seek(start)
        data = self._base.read(len(buffer))
        count = len(data)
        patched = bytearray(data)
        for offset in self._offsets:
            # Bit 11 of a little-endian field is bit 3 of its second byte.
            high = offset + 1 - start
            if 0 <= high < count:
                patched[high] &= ~(_UTF8_FLAG >> 8) & 0xFF
        buffer[:count] = patched
        self._pos += count
        return count
