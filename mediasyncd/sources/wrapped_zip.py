"""Zips over 4 GiB written without ZIP64, whose 32-bit offsets wrapped past 2^32.

Some exporters (ChatGPT's, in 2026) write archives of more than 4 GiB with plain 32-bit
records: every local-header offset, and the central directory's own offset, is stored
modulo 2^32. Python's `zipfile` then takes the wrapped difference between where the
central directory is and where the end record says it is as bytes "prepended" to the
archive and adds it to every member's offset, so members below 4 GiB point past their real
header (or past the end of the file) and reading them fails or returns another member.

`repair_wrapped_offsets` detects such an archive (bigger than 4 GiB, no ZIP64 end record)
and gives each member its true offset: for each central record in order, the smallest
`offset mod 2^32 + k * 2^32` that is not before the previous member's data and holds a
local header with the same name. Writers emit the central directory in the order they
wrote the members, so offsets only grow. When that cannot be done safely (no header with
the name, a member whose own size must have wrapped, records out of order) it raises
`WrappedZipError` and the source fails with that reason; nothing is guessed.
"""

from __future__ import annotations

import struct
import zipfile
from typing import BinaryIO

WRAP = 1 << 32
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
# The end record is 22 bytes plus a comment of at most 65,535 bytes.
_TAIL = 22 + 0xFFFF


class WrappedZipError(ValueError):
    """An archive whose wrapped 32-bit offsets cannot be repaired without guessing."""


def _file_size(handle: BinaryIO) -> int:
    handle.seek(0, 2)
    return handle.tell()


def has_zip64_end_record(handle: BinaryIO, size: int) -> bool:
    """Whether the archive's end record is preceded by a ZIP64 locator."""
    start = max(0, size - _TAIL)
    handle.seek(start)
    tail = handle.read(size - start)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0:
        return False
    return at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR_SIGNATURE


def needs_repair(handle: BinaryIO) -> bool:
    """An archive over 4 GiB without ZIP64 records: its offsets may have wrapped."""
    size = _file_size(handle)
    return size > WRAP and not has_zip64_end_record(handle, size)


def _local_name(handle: BinaryIO, offset: int, size: int) -> tuple[bytes, int] | None:
    """The raw name of the local header at `offset` and where its data starts, or None."""
    if offset < 0 or offset + _LOCAL_HEADER.size > size:
        return None
    handle.seek(offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
        return None
    fields = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = fields[-2], fields[-1]
    name = handle.read(name_length)
    return name, offset + _LOCAL_HEADER.size + name_length + extra_length


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        return info.orig_filename.encode(encoding)
    except UnicodeEncodeError:
        return info.orig_filename.encode("utf-8", "surrogateescape")


def repair_wrapped_offsets(archive: zipfile.ZipFile, handle: BinaryIO) -> bool:
    """Give every member of a wrapped non-ZIP64 archive its true header offset.

    Returns False (and changes nothing) when the archive does not need it. Raises
    WrappedZipError when a member's header cannot be found unambiguously.
    """
    if not needs_repair(handle):
        return False
    size = _file_size(handle)
    central_start = int(archive.start_dir)
    floor = 0
    repaired: list[tuple[zipfile.ZipInfo, int]] = []
    for info in archive.infolist():
        low = info.header_offset % WRAP
        # The first k that does not go back before the previous member's data.
        k = max(0, (floor - low + WRAP - 1) // WRAP)
        want = _raw_name(info)
        found: int | None = None
        while low + k * WRAP < central_start:
            candidate = low + k * WRAP
            local = _local_name(handle, candidate, size)
            if local is not None and local[0] == want:
                found = candidate
                data_start = local[1]
                break
            k += 1
        if found is None:
            raise WrappedZipError(
                f"archive over 4 GiB without ZIP64: no local header for member "
                f"{info.filename!r} at any offset {low} + k*2^32; cannot be read safely"
            )
        if info.file_size >= WRAP or info.compress_size >= WRAP:
            raise WrappedZipError(f"member {info.filename!r} declares more than 4 GiB")
        floor = data_start + info.compress_size
        repaired.append((info, found))
    # A member's real data may not run past the next header by a multiple of 2^32: that
    # would be a member over 4 GiB whose 32-bit size wrapped, which cannot be read safely.
    ends = [offset for _info, offset in repaired[1:]] + [central_start]
    for (info, offset), next_start in zip(repaired, ends, strict=True):
        if next_start - offset >= WRAP + info.compress_size:
            raise WrappedZipError(
                f"member {info.filename!r} spans more than 4 GiB without ZIP64 sizes; "
                "cannot be read safely"
            )
    for info, offset in repaired:
        info.header_offset = offset
    _refresh_end_offsets(archive, central_start)
    return True


def _refresh_end_offsets(archive: zipfile.ZipFile, central_start: int) -> None:
    """Python 3.11.8+ bounds each member's read by the next header (`_end_offset`, the
    CVE-2024-0450 check); those bounds were computed from the wrong offsets."""
    infos = archive.infolist()
    if not infos or not hasattr(infos[0], "_end_offset"):
        return
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for current, following in zip(ordered, [*ordered[1:], None], strict=True):
        end = following.header_offset if following is not None else central_start
        current._end_offset = end  # type: ignore[attr-defined]
