"""Documents kept compressed, or as recipes of other objects, under their own digest.

An object's name is always the XXH3-128 of its *uncompressed* bytes, so dedup, `verify`
and `reindex` keep their meaning. How the bytes are kept is said by a suffix on the name,
never by the content (a media file may itself be a zstd frame):
- no suffix: the bytes as they are (every object before 0.9, and all media);
- `.z`: one zstd frame (level 3, with its checksum and content size) of the bytes;
- `.s`: no bytes of the object, a tombstone: gc dropped this document because newer
  ones hold every conversation it held (`gc.keep_document_versions`);
- `.r`: a recipe, one zstd frame of: MAGIC, the total size, then parts in order, each
  either literal bytes or the digest and size of another object. conversations.json is
  kept as a recipe of its literal separators and one `.z` object per conversation, so a
  month's export adds only the conversations that changed.

Reading any of them gives the original bytes (`open_encoded`); `verify` re-hashes what
reading gives, so a flipped bit in a compressed object or in a recipe is caught (by
zstd's frame checksum first, by the digest in any case).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final

import zstandard

from mediasyncd.errors import StoreError

PLAIN: Final = ""
COMPRESSED: Final = ".z"
RECIPE: Final = ".r"
FORMS: Final = (COMPRESSED, RECIPE)
# Left where gc dropped a superseded document (gc.keep_document_versions): not the
# object, only the record that it went on purpose, so verify and reindex do not call it
# lost.
TOMBSTONE: Final = ".s"
LEVEL: Final = 3
MAGIC: Final = b"mediasyncd-recipe\x00\x01"
_LITERAL: Final = b"L"
_PART: Final = b"P"
_LENGTH: Final = struct.Struct(">Q")
# A recipe names at most this many parts; a larger one is not a recipe mediasyncd wrote.
MAX_PARTS: Final = 10_000_000

# Opens the stored object with this digest, decoded (Store.open).
OpenObject = Callable[[str], BinaryIO]


class DamagedObject(OSError):
    """A compressed object or recipe that cannot be decoded: read as an I/O error, as any
    other unreadable object is."""


class PartUnreadable(OSError):
    """A recipe whose own bytes are sound names an object that cannot be read (missing,
    damaged, or not of the size the recipe says): that object is the problem."""


@dataclass(frozen=True)
class Part:
    """Literal bytes (`digest` None), or the object with `digest`, of `size` bytes."""

    size: int
    digest: str | None = None
    literal: bytes = b""


def compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(
        level=LEVEL, write_checksum=True, write_content_size=True
    ).compress(data)


def compressor_writer(out: BinaryIO, size: int = -1) -> zstandard.ZstdCompressionWriter:
    """Streams a zstd frame into `out` (for documents too large to compress in memory)."""
    return zstandard.ZstdCompressor(level=LEVEL, write_checksum=True).stream_writer(
        out, size=size, closefd=False
    )


def decompressed(raw: BinaryIO) -> BinaryIO:
    """The bytes of the zstd frame in `raw` (closing the result closes `raw`)."""
    reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    return io.BufferedReader(_DamageAsIOError(reader), buffer_size=1 << 20)


def content_size(head: bytes) -> int | None:
    """The uncompressed size a zstd frame's header declares, if it does."""
    try:
        size = zstandard.frame_content_size(head)
    except zstandard.ZstdError:
        return None
    return size if size >= 0 else None


def encode_recipe(parts: Sequence[Part]) -> bytes:
    body = io.BytesIO()
    body.write(MAGIC)
    body.write(_LENGTH.pack(sum(p.size for p in parts)))
    for part in parts:
        if part.digest is None:
            body.write(_LITERAL + _LENGTH.pack(len(part.literal)) + part.literal)
        else:
            body.write(_PART + bytes.fromhex(part.digest) + _LENGTH.pack(part.size))
    return compress(body.getvalue())


def decode_recipe(raw: BinaryIO) -> tuple[int, list[Part]]:
    """(total size, parts) of a stored recipe; DamagedObject when it is not one."""
    with decompressed(raw) as body:
        if body.read(len(MAGIC)) != MAGIC:
            raise DamagedObject("not a mediasyncd recipe")
        total = _read_length(body)
        parts: list[Part] = []
        while tag := body.read(1):
            if len(parts) >= MAX_PARTS:
                raise DamagedObject("recipe names too many parts")
            if tag == _LITERAL:
                length = _read_length(body)
                literal = body.read(length)
                if len(literal) != length:
                    raise DamagedObject("recipe ends inside a literal")
                parts.append(Part(length, None, literal))
            elif tag == _PART:
                digest = body.read(16)
                if len(digest) != 16:
                    raise DamagedObject("recipe ends inside a part")
                parts.append(Part(_read_length(body), digest.hex()))
            else:
                raise DamagedObject("recipe has an unknown part")
    if sum(p.size for p in parts) != total:
        raise DamagedObject("recipe parts do not add up to its size")
    return total, parts


def _read_length(body: BinaryIO) -> int:
    data = body.read(_LENGTH.size)
    if len(data) != _LENGTH.size:
        raise DamagedObject("recipe ends inside a length")
    return int(_LENGTH.unpack(data)[0])


def recipe_digests(raw: BinaryIO) -> list[str]:
    """The objects a stored recipe names, in order (repeats kept)."""
    _, parts = decode_recipe(raw)
    return [p.digest for p in parts if p.digest is not None]


def open_encoded(raw: BinaryIO, form: str, open_object: OpenObject) -> BinaryIO:
    """The original bytes of an object kept in `form`, whose stored bytes are `raw`."""
    if form == PLAIN:
        return raw
    if form == COMPRESSED:
        return decompressed(raw)
    if form == RECIPE:
        with raw:
            _, parts = decode_recipe(raw)
        return io.BufferedReader(_RecipeReader(parts, open_object), buffer_size=1 << 20)
    raise ValueError(f"unknown object form {form!r}")


def stored_size(head: bytes, form: str) -> int | None:
    """The original size of an object from the first bytes of its stored form (a
    recipe's total is inside its frame: None, read the recipe instead)."""
    if form == COMPRESSED:
        return content_size(head)
    return None


class _RecipeReader(io.RawIOBase):
    """Reads a recipe's parts one after another; each part's size is checked."""

    def __init__(self, parts: list[Part], open_object: OpenObject):
        self._parts: Iterator[Part] = iter(parts)
        self._open = open_object
        self._current: BinaryIO | None = None
        self._pending = b""
        self._left = 0
        self._part: Part | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self._readinto(memoryview(buffer).cast("B"))
        except PartUnreadable:
            raise
        except (OSError, StoreError) as exc:
            # The recipe itself was read: what failed is the object it names.
            raise PartUnreadable(f"object {self._part_digest()}: {exc}") from exc

    def _readinto(self, view: memoryview) -> int:
        while True:
            if self._pending:
                n = min(len(view), len(self._pending))
                view[:n] = self._pending[:n]
                self._pending = self._pending[n:]
                return n
            if self._current is not None:
                data = self._current.read(min(len(view), 1 << 20))
                if data:
                    self._left -= len(data)
                    if self._left < 0:
                        raise PartUnreadable(
                            f"object {self._part_digest()} is longer than its recipe says"
                        )
                    view[: len(data)] = data
                    return len(data)
                self._current.close()
                self._current = None
                if self._left:
                    raise PartUnreadable(
                        f"object {self._part_digest()} is shorter than its recipe says"
                    )
            part = next(self._parts, None)
            if part is None:
                return 0
            self._part = part
            if part.digest is None:
                self._pending = part.literal
            else:
                self._current = self._open(part.digest)
                self._left = part.size

    def _part_digest(self) -> str:
        return self._part.digest if self._part is not None and self._part.digest else "?"

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


class _DamageAsIOError(io.RawIOBase):
    """A decompressing reader whose zstd errors (a damaged frame) are I/O errors: "this
    object cannot be read", as for any other damaged object."""

    def __init__(self, reader: zstandard.ZstdDecompressionReader):
        self._reader = reader

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            if size is None or size < 0:
                return bytes(self._reader.readall())
            return bytes(self._reader.read(size))
        except zstandard.ZstdError as exc:
            raise DamagedObject(f"compressed object is damaged: {exc}") from exc

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._reader.close()  # type: ignore[no-untyped-call]
        super().close()
