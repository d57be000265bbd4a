"""An outer zip over 4 GiB without ZIP64 whose 32-bit offsets wrapped (real 2026 ChatGPT
exports), built as a sparse file: two stored members of ~2.1 GiB of zeros are holes, so
the archive is 4.4 GB long and takes a few kilobytes of disk.

Plain `zipfile` misreads it (it takes the wrapped central-directory offset for prepended
bytes and shifts every member); mediasyncd repairs each offset by finding the local header
with the member's name at offset + k * 2^32, and refuses when it cannot be sure.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
import zipfile
from pathlib import Path

import pytest

from mediasyncd.app import App
from mediasyncd.config import Config, LimitsConfig
from mediasyncd.errors import SourceError
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.sources.container import ContainerWalker, Member, Rejected
from mediasyncd.sources.wrapped_zip import WRAP, needs_repair
from tests.reliability.rawzip import (
    crc32_of_zeros,
    write_central_directory,
    write_hole,
    write_stored,
)

BIG = 2_200_000_000  # two of these put the third member past 4 GiB
TAIL = b'{"title": "the member past 4 GiB"}\n'


@functools.cache
def _zeros_crc() -> int:
    return crc32_of_zeros(BIG)


def build_wrapped(path: Path, *, lie_about: bytes | None = None) -> Path:
    """big-1.bin and big-2.bin (holes), then tail.json past 4 GiB, with 32-bit offsets.

    `lie_about` renames that member's local header, so no k finds its name."""
    crc = _zeros_crc()
    with open(path, "wb") as out:
        entries = [
            write_hole(out, b"export/big-1.bin", BIG, crc),
            write_hole(out, b"export/big-2.bin", BIG, crc),
            write_stored(out, b"export/tail.json", TAIL),
        ]
        write_central_directory(out, entries)
    if lie_about is not None:
        with open(path, "r+b") as out:
            entry = next(e for e in entries if e.name == lie_about)
            out.seek(entry.offset + 30)
            out.write(b"X" * len(entry.name))
    return path


def _disk_bytes(path: Path) -> int:
    return path.stat().st_blocks * 512


def _walk(path: Path, limits: LimitsConfig, spool: Path) -> list[Member | Rejected]:
    walker = ContainerWalker(path, limits, spool_dir=spool)
    found: list[Member | Rejected] = []
    for item in walker.walk():
        found.append(item)
        if isinstance(item, Member) and item.size < 1 << 20:
            with item.open() as stream:
                assert stream.read() == TAIL
    return found


def test_wrapped_archive_is_sparse_and_plain_zipfile_misreads_it(tmp_path: Path) -> None:
    """The fixture is what it claims: > 4 GiB, no ZIP64, a few kB on disk, and Python's
    zipfile alone cannot read the first member (its offset is shifted past 4 GiB)."""
    path = build_wrapped(tmp_path / "export.zip")
    assert path.stat().st_size > WRAP
    assert _disk_bytes(path) < 1 << 20
    with open(path, "rb") as handle:
        assert needs_repair(handle)
        archive = zipfile.ZipFile(handle)
        first = archive.infolist()[0]
        assert first.header_offset >= WRAP  # shifted by the "prepended" 2^32
        with pytest.raises((zipfile.BadZipFile, OSError, EOFError, ValueError)):
            archive.open(first).read(16)


def test_walker_repairs_the_offsets(tmp_path: Path) -> None:
    """Every member is found at its true offset: the small one past 4 GiB reads back
    exactly, and the big ones start with zeros where their data really is."""
    path = build_wrapped(tmp_path / "export.zip")
    walker = ContainerWalker(path, LimitsConfig(), spool_dir=tmp_path / "spool")
    seen: dict[str, int] = {}
    for item in walker.walk():
        assert isinstance(item, Member), item
        seen[item.path] = item.size
        with item.open() as stream:
            head = stream.read(1 << 16)
        if item.path.endswith("tail.json"):
            assert head == TAIL
        else:
            assert head == bytes(1 << 16)
    assert seen == {"export/big-1.bin": BIG, "export/big-2.bin": BIG, "export/tail.json": len(TAIL)}


def test_ingest_of_the_wrapped_archive(tmp_path: Path) -> None:
    """Through the real ingester (with max_member_bytes keeping the big zeros out, so the
    test stores kilobytes): the member past 4 GiB lands with the right bytes, the two big
    members are rejected by name for their size, not for a misread archive."""
    path = build_wrapped(tmp_path / "export.zip")
    config = Config()
    config = dataclasses.replace(
        config, limits=dataclasses.replace(config.limits, max_member_bytes=1 << 20)
    )
    app = App(config, tmp_path / "state")
    try:
        summary = Ingester(app.index, app.store, config, app.state_dir).ingest_paths([path])
        rows = app.index.execute(
            "SELECT o.member, o.digest FROM occurrences o WHERE o.member = 'export/tail.json'"
        ).fetchall()
        assert len(rows) == 1
        with app.store.open(str(rows[0][1])) as stream:
            assert stream.read() == TAIL
        failed = {f.member: f.error for f in summary.failures}
        assert set(failed) == {"export/big-1.bin", "export/big-2.bin"}, failed
        assert all("max_member_bytes" in reason for reason in failed.values())
    finally:
        app.close()


def test_unrepairable_wrapped_archive_fails_clearly(tmp_path: Path) -> None:
    """When no offset + k * 2^32 holds a header with the member's name, the source fails
    with an error naming the file and the member, instead of reading the wrong bytes."""
    path = build_wrapped(tmp_path / "export.zip", lie_about=b"export/big-2.bin")
    with pytest.raises(SourceError) as caught:
        _walk(path, LimitsConfig(), tmp_path / "spool")
    assert str(path) in str(caught.value)
    assert "export/big-2.bin" in str(caught.value)
    assert "without ZIP64" in str(caught.value)


def test_zip64_and_small_archives_are_left_alone(tmp_path: Path) -> None:
    """Only archives over 4 GiB without a ZIP64 end record are touched."""
    small = tmp_path / "small.zip"
    with zipfile.ZipFile(small, "w") as archive:
        archive.writestr("a.txt", b"a")
    with open(small, "rb") as handle:
        assert not needs_repair(handle)
    # A ZIP64 locator before the end record: the archive says its own offsets.
    big = tmp_path / "zip64.zip"
    with open(big, "wb") as out:
        out.seek(WRAP + 10)
        out.write(b"PK\x06\x07" + bytes(16) + b"PK\x05\x06" + struct.pack("<HHHHLLH", *[0] * 7))
    with open(big, "rb") as handle:
        assert not needs_repair(handle)
