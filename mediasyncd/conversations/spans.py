"""The raw bytes of each item of a top-level JSON array, read once in bounded windows.

conversations.json (and each era B shard) is a JSON array of conversations. Each item's
exact bytes are what its document object is named and compressed from, and a digest of
them tells an unchanged conversation from last month's export without parsing it. The
array is read in windows of WINDOW bytes; a window is cut at the last `}, {` in it and
decoded by msgspec as `[window]` into `list[Raw]` (no object is built). JSON values are
prefix-free, so that decode succeeds only if the cut is a real boundary between items (a
cut inside a string or a nested array leaves something unclosed); otherwise an earlier
cut is tried, then a larger window. Memory is bounded by the window plus one item.

This is the fast path only. Anything it does not expect (not an array, a truncated or
invalid document, an item over `max_item_bytes`, nesting msgspec refuses) raises
`ScanAbandoned`, and the caller reads the document with the streaming parser of
mediasyncd.conversations.parse instead, which has the error messages and caps for every
such case. The scanner also yields the literal bytes between items, so the document can
be reassembled byte for byte from the literals and the items (a recipe).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

import msgspec

WINDOW: Final = 8 << 20
# Cuts tried in one window, latest first, before the window grows.
CUTS_TRIED: Final = 16
# Bytes at the end of a window searched first for its last cuts (then 8 times more).
_CUT_TAIL: Final = 64 << 10
_START: Final = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\[[ \t\r\n]*")
_CUT: Final = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")
_SEPARATOR: Final = re.compile(rb"[ \t\r\n]*,[ \t\r\n]*")
_EMBEDDED_END: Final = re.compile(rb"\][ \t\r\n]*;")
_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode


class ScanAbandoned(Exception):
    """The fast path gives up here; the document is read with the streaming parser."""


@dataclass(frozen=True)
class Literal:
    data: bytes


@dataclass(frozen=True)
class Item:
    data: bytes


class ArrayScan:
    """Yields `Literal` and `Item` pieces in document order; their bytes add up to the
    whole document."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        max_item_bytes: int,
        window: int = WINDOW,
        embedded_after: bytes | None = None,
    ):
        """`embedded_after`: the array follows this marker inside another document
        (chat.html's `var jsonData = [...];`), which goes on after the array."""
        self._stream = stream
        self._window = window
        self._max_item = max_item_bytes
        self._marker = embedded_after
        self._buf = b""
        self._eof = False

    def __iter__(self) -> Iterator[Literal | Item]:
        self._fill(self._window)
        offset = 0
        if self._marker is not None:
            found = self._buf.find(self._marker)
            if found < 0:
                raise ScanAbandoned("no embedded array in the first window")
            offset = found + len(self._marker)
        start = _START.match(self._buf, offset)
        if start is None:
            raise ScanAbandoned("not a JSON array")
        yield Literal(self._buf[: start.end()])
        pos = start.end()
        while True:
            if not self._eof and len(self._buf) - pos < self._window:
                self._buf = self._buf[pos:]
                pos = 0
                self._fill(self._window)
            cut = self._decode_to_cut(pos)
            if cut is not None:
                items, end = cut
                yield from self._pieces(items, pos, end)
                pos = end
                continue
            if self._eof:
                yield from self._tail(pos)
                return
            if len(self._buf) - pos > self._max_item + self._window:
                raise ScanAbandoned("an item is larger than the limit")
            self._buf = self._buf[pos:]
            pos = 0
            self._fill(len(self._buf) + self._window)

    def _fill(self, size: int) -> None:
        """Read until the buffer holds `size` bytes or the stream ends."""
        parts = [self._buf]
        have = len(self._buf)
        while have < size and not self._eof:
            chunk = self._stream.read(size - have)
            if not chunk:
                self._eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)

    def _last_cuts(self, pos: int) -> list[tuple[int, int]]:
        """The last CUTS_TRIED cuts after `pos`, found from the end of the buffer: a
        window holds tens of thousands of `}, {` (every array of objects inside a
        conversation has them), and listing them all cost 0.15 s of an ingest of 10,000
        conversations. Two cuts never overlap (one starts with `}`, and nothing inside
        one is `}`), so a search from any offset finds the same cuts from there on."""
        tail = _CUT_TAIL
        while True:
            start = max(pos, len(self._buf) - tail)
            cuts = [m.span() for m in _CUT.finditer(self._buf, start)]
            if len(cuts) > CUTS_TRIED or start == pos:
                return cuts[-CUTS_TRIED:]
            tail *= 8

    def _decode_to_cut(self, pos: int) -> tuple[list[msgspec.Raw], int] | None:
        """The items from `pos` up to the latest cut that decodes, and where the next item
        starts; None when no cut in the buffer decodes."""
        cuts = self._last_cuts(pos)
        for close, open_ in reversed(cuts):
            try:
                items = _decode_items(b"[" + self._buf[pos : close + 1] + b"]")
            except (msgspec.DecodeError, RecursionError):
                continue
            return items, open_ - 1
        return None

    def _tail(self, pos: int) -> Iterator[Literal | Item]:
        """The last items and the closing bracket (and whitespace) of the document."""
        if self._marker is not None:
            yield from self._embedded_tail(pos)
            return
        tail = self._buf[pos:]
        if tail[:1] == b"]":
            items: list[msgspec.Raw] = []
            closing = tail
        else:
            try:
                items = _decode_items(b"[" + tail)
            except (msgspec.DecodeError, RecursionError) as exc:
                raise ScanAbandoned(f"the end of the array does not decode: {exc}") from exc
            closing = b""
        if items:
            end = yield from self._pieces(items, pos, None)
            closing = self._buf[end:]
        if closing.strip(b" \t\r\n") != b"]":
            raise ScanAbandoned("the array is not closed, or text follows it")
        yield Literal(closing)

    def _embedded_tail(self, pos: int) -> Iterator[Literal | Item]:
        """The last items of an embedded array, and the rest of the document: the array
        ends at the first `];` after which what came before decodes (`;` is not JSON, so
        outside a string it can only follow the array)."""
        ends = [m.start() for m in _EMBEDDED_END.finditer(self._buf, pos)][:CUTS_TRIED]
        for end in ends:
            try:
                items = _decode_items(b"[" + self._buf[pos : end + 1])
            except (msgspec.DecodeError, RecursionError):
                continue
            last = pos
            if items:
                last = yield from self._pieces(items, pos, None)
            yield Literal(self._buf[last:])
            return
        raise ScanAbandoned("the end of the embedded array was not found")

    def _pieces(
        self, items: list[msgspec.Raw], pos: int, next_start: int | None
    ) -> Generator[Literal | Item, None, int]:
        """Items from `pos` with the separators between them; returns where the last one
        ends (with `next_start`, the separator up to it is yielded too)."""
        buf = self._buf
        view = memoryview(buf)
        for number, raw in enumerate(items):
            if number:
                sep = _SEPARATOR.match(buf, pos)
                if sep is None:
                    raise ScanAbandoned("no separator between items")
                yield Literal(sep.group(0))
                pos = sep.end()
            size = len(memoryview(raw))
            if view[pos : pos + size] != memoryview(raw):
                raise ScanAbandoned("an item's bytes are not where expected")
            yield Item(buf[pos : pos + size])
            pos += size
        if next_start is not None:
            yield Literal(buf[pos:next_start])
        return pos
