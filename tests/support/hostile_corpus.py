"""The hostile-archive corpus, generated (never downloaded): each case builds one file and
says what mediasyncd must answer.

A case either fails the whole source (`member` None: truncated, not a zip, overlapping
entries...) or skips one member and keeps the rest (`member` names it). Either way the
error names the file, and the member when there is one, and contains `text`. Every zip
also carries GOOD members, so "everything else is ingested" is checked too.

Hard links: zip has no hard-link member. Info-ZIP stores a hard-linked file as a second
regular copy, and its Unix extra fields (0x5855, 0x7855, 0x7875) carry times and ids,
never a link target; the only link type a zip can express is a symbolic link through
st_mode in external_attr, covered by the symlink cases. (Hard-link members are a tar
concept, and mediasyncd does not read tar.)
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import (
    make_zip,
    media_bytes,
    patch_bytes,
    symlink_info,
    write_files,
    zip_bytes,
)
from tests.reliability.rawzip import (
    RawEntry,
    end_record,
    local_header,
    write_central_directory,
    write_stored,
)

GOOD = {
    "good/one.png": media_bytes(3000, "hostile-good-1"),
    "good/two.jpg": media_bytes(4000, "hostile-good-2", "jpeg"),
}
MILLION = 1_000_000
# The daemon and CLI runs use this limit, so the million-member zip is refused at once.
MAX_MEMBERS = 100_000


@dataclass(frozen=True)
class Case:
    """One hostile input and what must be said about it."""

    name: str
    scenario: int  # docs/reliability.md scenario number
    build: Callable[[Path], Path]
    # The source's final state: "failed" (nothing landed), "partial" (the member skipped,
    # the rest stored) or "ok".
    state: str
    member: str | None
    text: str
    good_lands: bool = True  # whether GOOD members of the same file are stored
    notes: dict[str, Any] = field(default_factory=dict)


def _with_good(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], **kw: Any) -> Path:
    return make_zip(path, [*entries, *GOOD.items()], **kw)


def _renamed(path: Path, placeholder: bytes, name: bytes) -> Path:
    """A zip whose member name holds bytes zipfile would never write (NUL, bad UTF-8)."""
    _with_good(path, [(placeholder.decode(), media_bytes(100, "renamed"))])
    patch_bytes(path, placeholder, name, expected=2)
    return path


def _bad_utf8(path: Path) -> Path:
    """The UTF-8 flag set on a name that is not UTF-8."""
    _with_good(path, [("caf\u00e9XX.png", media_bytes(100, "latin"))])
    patch_bytes(path, "caf\u00e9XX".encode(), b"caf\xe9\xff\xfeX", expected=2)
    return path


def _ratio_bomb(path: Path) -> Path:
    return _with_good(path, [("zeros.bin", bytes(64 << 20))])


def _lying_bigger(path: Path) -> Path:
    """Headers claim 100 bytes; the deflate stream inflates to 32 MB. zipfile stops at the
    declared size and the CRC check fails: a small read, a clear error."""
    _with_good(path, [("liar.png", b"\x89PNG" + bytes(32 << 20))])
    # Zipfile trusts the central record; patch its uncompressed size (the last field
    # before the name lengths) down to 100.
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, at + 24, 100)
    path.write_bytes(bytes(data))
    return path


def _lying_smaller(path: Path) -> Path:
    """A stored member whose headers declare 100 bytes while 5,000 follow (with the CRC of
    all 5,000), then honest members after the real data."""
    payload = media_bytes(5000, "liar")
    with open(path, "wb") as out:
        offset = out.tell()
        out.write(local_header(b"liar.png", 100, zlib.crc32(payload)) + payload)
        entries = [RawEntry(b"liar.png", offset, 100, zlib.crc32(payload))]
        entries += [write_stored(out, name.encode(), data) for name, data in GOOD.items()]
        write_central_directory(out, entries)
    return path


def _overlap_bomb(path: Path) -> Path:
    """Fifield's "A better zip bomb", stored-quoting form: every local header's data is all
    the headers after it plus one shared kernel, so N entries of ~N*40 bytes each overlap
    and the whole expands quadratically. Python 3.11.7 does not check this itself."""
    kernel = b"\x89PNG" + bytes(4096)
    count = 200
    names = [f"bomb/{i:04}.png".encode() for i in range(count)]
    # Sizes from the back: entry i's data = headers i+1.. plus the kernel.
    sizes = [0] * count
    crcs = [0] * count
    headers: list[bytes] = [b""] * count
    tail = kernel
    for i in range(count - 1, -1, -1):
        sizes[i] = len(tail)
        crcs[i] = zlib.crc32(tail)
        headers[i] = local_header(names[i], sizes[i], crcs[i])
        tail = headers[i] + tail
    with open(path, "wb") as out:
        out.write(tail)
        entries = []
        offset = 0
        for i in range(count):
            entries.append(RawEntry(names[i], offset, sizes[i], crcs[i]))
            offset += len(headers[i])
        write_central_directory(out, entries)
    return path


def _entry_inside_another(path: Path) -> Path:
    """Two central records pointing at the same local header (the simplest overlap)."""
    make_zip(path, {"a.png": media_bytes(9000, 1), **GOOD}, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 1)
    struct.pack_into("<I", data, at + 42, 0)
    path.write_bytes(bytes(data))
    return path


def _nested_too_deep(path: Path) -> Path:
    """A privacy archive (its reader expands Files__*.zip) nested four zips deep; the
    default limits.max_nesting_depth is 3."""
    inner = zip_bytes({"deep.png": media_bytes(500, "deepest")})
    for level in (4, 3, 2):
        inner = zip_bytes(
            {f"Files__level{level}.zip": inner, f"l{level}.png": media_bytes(600, level)}
        )
    return make_zip(path, [("Files__user-abc.zip", inner), *GOOD.items()])


def _deflate64_nested(path: Path) -> Path:
    """A privacy archive whose nested zip says Deflate64 (method 9, what Windows uses for
    big files), which zipfile cannot decompress (found by atheris: it escaped the walker)."""
    inner = zip_bytes({"deep.png": media_bytes(500, "d64")})
    make_zip(path, [("Files__user-abc.zip", inner), *GOOD.items()])
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, local + 8, 9)
    struct.pack_into("<H", data, central + 10, 9)
    path.write_bytes(bytes(data))
    return path


def write_million(path: Path, count: int = MILLION) -> Path:
    """`count` empty stored members, written as raw structures in one pass (~100 MB,
    about 4 s): local headers, then the central directory, then the end record with
    the 16-bit count saturated as writers do."""
    with open(path, "wb") as out:
        entries = []
        chunk: list[bytes] = []
        offset = 0
        for i in range(count):
            name = b"m/%07d.txt" % i
            header = local_header(name, 0, 0)
            chunk.append(header)
            entries.append(RawEntry(name, offset, 0, 0))
            offset += len(header)
            if len(chunk) >= 50_000:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
        write_central_directory(out, entries)
    return path


def _far_future(path: Path) -> Path:
    """A folder whose files and itself are dated after 2262: st_mtime_ns no longer fits a
    64-bit integer (ext4 clamps to 2446; found by fuzzing the image clocks)."""
    write_files(path, GOOD)
    stamp = 300_000_000_000 * 1_000_000_000  # year ~11,000; the filesystem clamps it
    for item in [*path.rglob("*"), path]:
        os.utime(item, ns=(stamp, stamp))
    return path


def _truncated(path: Path) -> Path:
    full = make_zip(path, GOOD).read_bytes()
    path.write_bytes(full[: len(full) // 2])
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _chatgpt(path: Path, conversations: bytes) -> Path:
    """A ChatGPT export whose conversations.json is `conversations` (plus GOOD media)."""
    return make_zip(
        path,
        [
            ("conversations.json", conversations),
            ("user.json", json.dumps({"id": "user-hostile", "email": "h@example.com"}).encode()),
            *GOOD.items(),
        ],
    )


_TRACE_HEAD = b'[{"id": "t1", "timestamp": "2025-01-31T12:00:00Z", "userId": "u1", '


CASES: list[Case] = [
    # -- zip slip (scenario 5) -------------------------------------------------------------
    Case("slip-dotdot", 5, lambda d: _with_good(d / "slip.zip", [("../../evil.png", b"x")]),
         "partial", "../../evil.png", "'..'"),
    Case("slip-inner-dotdot", 5,
         lambda d: _with_good(d / "slip.zip", [("a/../../../evil.png", b"x")]),
         "partial", "a/../../../evil.png", "'..'"),
    Case("slip-absolute", 5, lambda d: _with_good(d / "slip.zip", [("/etc/cron.d/evil", b"x")]),
         "partial", "/etc/cron.d/evil", "absolute path"),
    Case("slip-drive", 5, lambda d: _with_good(d / "slip.zip", [("C:/Windows/evil.dll", b"x")]),
         "partial", "C:/Windows/evil.dll", "drive letter"),
    Case("slip-drive-backslash", 5,
         lambda d: _with_good(d / "slip.zip", [("C:\\Windows\\evil.dll", b"x")]),
         "partial", "C:\\Windows\\evil.dll", "backslash"),
    Case("slip-backslash", 5,
         lambda d: _with_good(d / "slip.zip", [("..\\..\\evil.png", b"x")]),
         "partial", "..\\..\\evil.png", "backslash"),
    Case("slip-nul", 5, lambda d: _renamed(d / "slip.zip", b"okXname.png", b"ok\x00name.png"),
         "partial", "ok\\x00name.png", "NUL"),
    Case("slip-nul-dotdot", 5,
         lambda d: _renamed(d / "slip.zip", b"abcdefghij", b"../\x00/x.png"),
         "partial", "../\\x00/x.png", "NUL"),
    Case("slip-symlink", 5,
         lambda d: _with_good(d / "slip.zip", [(symlink_info("link.png"), b"../../etc/passwd")]),
         "partial", "link.png", "symbolic link"),
    Case("slip-symlink-absolute", 5,
         lambda d: _with_good(d / "slip.zip", [(symlink_info("etc"), b"/etc")]),
         "partial", "etc", "symbolic link"),
    # -- bombs (scenario 6) -----------------------------------------------------------------
    Case("bomb-ratio", 6, lambda d: _ratio_bomb(d / "bomb.zip"),
         "partial", "zeros.bin", "max_ratio"),
    Case("bomb-overlap-quoted", 6, lambda d: _overlap_bomb(d / "bomb.zip"),
         "failed", None, "overlap", good_lands=False),
    Case("bomb-overlap-shared-header", 6, lambda d: _entry_inside_another(d / "bomb.zip"),
         "failed", None, "overlap", good_lands=False),
    Case("bomb-lying-size-inflates", 6, lambda d: _lying_bigger(d / "bomb.zip"),
         "partial", "liar.png", "cannot read member"),
    Case("bomb-lying-size-stored", 6, lambda d: _lying_smaller(d / "bomb.zip"),
         "partial", "liar.png", "cannot read member"),
    Case("bomb-nested-too-deep", 6, lambda d: _nested_too_deep(d / "privacy.zip"),
         "partial", "Files__user-abc.zip!/Files__level2.zip!/Files__level3.zip!/Files__level4.zip",
         "max_nesting_depth"),
    Case("nested-deflate64", 6, lambda d: _deflate64_nested(d / "privacy.zip"),
         "partial", "Files__user-abc.zip", "compression method"),
    Case("bomb-million-members", 6, lambda d: write_million(d / "million.zip"),
         "failed", None, "max_members", good_lands=False),
    # -- broken input (scenario 7) ----------------------------------------------------------
    Case("truncated-zip", 7, lambda d: _truncated(d / "truncated.zip"),
         "failed", None, "truncated or damaged zip", good_lands=False),
    Case("not-a-zip", 7, lambda d: _write(d / "fake.zip", b"<html>not a zip</html>\n"),
         "failed", None, "not a zip", good_lands=False),
    Case("zip-header-then-garbage", 7,
         lambda d: _write(d / "garbage.zip", b"PK\x03\x04" + bytes(range(256)) * 64),
         "failed", None, "truncated or damaged zip", good_lands=False),
    Case("empty-file", 7, lambda d: _write(d / "empty.zip", b""),
         "failed", None, "empty file", good_lands=False),
    Case("empty-archive", 7, lambda d: _write(d / "nothing.zip", end_record(0, 0, 0)),
         "ok", None, "", good_lands=False),
    Case("far-future-mtime", 7, lambda d: _far_future(d / "future"), "ok", None, ""),
    Case("duplicate-names", 7,
         lambda d: _with_good(d / "dup.zip", [("good/one.png", b"\x89PNG impostor")]),
         "partial", "good/one.png", "duplicate member name"),
    # Names marked UTF-8 that are not are read as CP437: nothing lost, nothing failed.
    Case("non-utf8-name", 7, lambda d: _bad_utf8(d / "latin.zip"), "ok", None, ""),
    Case("invalid-json", 7,
         lambda d: _chatgpt(d / "chatgpt-export.zip", b'[{"id": "c1", "title": "cut'),
         "partial", "conversations.json", "invalid JSON"),
    Case("json-wrong-shape", 7,
         lambda d: _chatgpt(d / "chatgpt-export.zip", b'{"conversations": "not a list"}'),
         "partial", "conversations.json", "is not a list"),
    Case("json-wrong-items", 7,
         lambda d: _chatgpt(d / "chatgpt-export.zip", b'[1, "two", null, {"mapping": 3}]'),
         "partial", "conversations.json", "skipped"),
    Case("trace-invalid-json", 7,
         lambda d: make_zip(d / "traces.zip", {"traces.json": _TRACE_HEAD + b'"input": [', **GOOD}),
         "partial", "traces.json", "breaks off"),
]  # fmt: skip


def case_by_name(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def good_zip(path: Path, seed: str) -> Path:
    """A small honest zip with content unique to `seed` (so it is always new to the store)."""
    return make_zip(path, {f"{seed}/photo.png": media_bytes(2000, seed)})


def sizes_of(data: bytes) -> dict[str, int]:
    """Names and declared sizes of a zip held in memory (for the corpus self-test)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: i.file_size for i in archive.infolist()}
