"""Zip structures written by hand, for archives `zipfile` will not write: 32-bit offsets
that wrapped past 4 GiB, holes instead of data (sparse files), a million members written
in one pass, headers that lie.

Only stored (uncompressed) members; every number is written exactly as given, so a test
decides what is true and what is a lie.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

WRAP = 1 << 32
_MASK = WRAP - 1
# The DOS date 2024-01-02 03:04:06 (time, date) for every entry.
DOS_TIME, DOS_DATE = (3 << 11) | (4 << 5) | 3, ((2024 - 1980) << 9) | (1 << 5) | 2


@dataclass(frozen=True)
class RawEntry:
    """One stored member as the central directory will describe it."""

    name: bytes
    offset: int  # the true offset of its local header (written modulo 2^32)
    size: int
    crc: int
    flags: int = 0x800  # UTF-8 names


def local_header(name: bytes, size: int, crc: int, flags: int = 0x800) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHLLLHH",
            b"PK\x03\x04",
            20,
            flags,
            0,
            DOS_TIME,
            DOS_DATE,
            crc,
            size & _MASK,
            size & _MASK,
            len(name),
            0,
        )
        + name
    )


def central_record(entry: RawEntry) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHHLLLHHHHHLL",
            b"PK\x01\x02",
            (3 << 8) | 20,
            20,
            entry.flags,
            0,
            DOS_TIME,
            DOS_DATE,
            entry.crc,
            entry.size & _MASK,
            entry.size & _MASK,
            len(entry.name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            entry.offset & _MASK,
        )
        + entry.name
    )


def end_record(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack(
        "<4sHHHHLLH",
        b"PK\x05\x06",
        0,
        0,
        min(count, 0xFFFF),
        min(count, 0xFFFF),
        cd_size & _MASK,
        cd_offset & _MASK,
        0,
    )


def write_central_directory(out: BinaryIO, entries: Iterable[RawEntry]) -> None:
    """The central directory and end record at the current position of `out`."""
    start = out.tell()
    count = 0
    for entry in entries:
        out.write(central_record(entry))
        count += 1
    out.write(end_record(count, out.tell() - start, start))


def crc32_of_zeros(size: int, chunk: int = 1 << 22) -> int:
    """CRC-32 of `size` zero bytes (computed once per size, in chunks: no big buffer)."""
    zeros = bytes(chunk)
    crc = 0
    left = size
    while left:
        step = min(left, chunk)
        crc = zlib.crc32(zeros if step == chunk else zeros[:step], crc)
        left -= step
    return crc


def write_stored(out: BinaryIO, name: bytes, data: bytes) -> RawEntry:
    """A stored member with its real bytes at the current position."""
    offset = out.tell()
    crc = zlib.crc32(data)
    out.write(local_header(name, len(data), crc))
    out.write(data)
    return RawEntry(name, offset, len(data), crc)


def write_hole(out: BinaryIO, name: bytes, size: int, crc: int) -> RawEntry:
    """A stored member of `size` zero bytes left as a hole (the file stays sparse)."""
    offset = out.tell()
    out.write(local_header(name, size, crc))
    out.seek(size, 1)
    return RawEntry(name, offset, size, crc)
