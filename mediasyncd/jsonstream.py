"""Streaming JSON from drops with a nesting limit, so no document can exhaust memory.

Every JSON document a drop carries (conversations, name maps, library listings, image
listings, trace exports) is untrusted. ijson keeps, for each open level, the whole path
prefix of that level (`item.item.item…`), so its memory grows with the square of the
nesting depth: a 1 KB zip holding `[[[[…` 100,000 deep took 24 GB. The nesting is
therefore measured first, from ijson's prefix-free event stream (`basic_parse`), and
a document deeper than `limits.max_json_depth` stops with `JsonTooDeep` before the
object builder ever sees the bytes that go too deep. Whatever was complete before that
point (or before any other break) has been yielded already.

Counting events one by one in Python would double the parse time, so each 16 KB piece
is first judged by counting its open and close events in C (`list.count`): the depth
can rise by at most the number of opens, and only a piece that could cross the limit
is walked event by event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import ijson
from ijson.utils import sendable_list

# The default of `limits.max_json_depth`. Real exports nest about 10 deep (a trace's
# input with its messages and tool calls); 128 leaves room for odd data while every
# reader, and json.dumps on what it stored, stays far from Python's recursion limit.
DEFAULT_MAX_DEPTH: Final = 128
PIECE_BYTES: Final = 16 * 1024

_START_MAP: Final = ("start_map", None)
_START_ARRAY: Final = ("start_array", None)
_END_MAP: Final = ("end_map", None)
_END_ARRAY: Final = ("end_array", None)
_OPENS: Final = (_START_MAP, _START_ARRAY)
_OPENING: Final = re.compile(rb"[\[{]")
_CLOSES: Final = (_END_MAP, _END_ARRAY)


class JsonTooDeep(ijson.JSONError, ValueError):  # type: ignore[misc]
    """The document nests deeper than allowed; what came before it was read. Both an
    ijson error and a ValueError, so every reader's existing "bad JSON" path takes it."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"JSON nested deeper than limits.max_json_depth ({limit})")


class DepthGuard:
    """Follows a document's nesting from its bytes, raising JsonTooDeep past the limit."""

    def __init__(self, max_depth: int, *, multiple_values: bool = False):
        self.max_depth = max_depth
        self.depth = 0
        self._events = sendable_list()
        self._parser = ijson.basic_parse_coro(
            self._events, multiple_values=multiple_values, use_float=True
        )

    def feed(self, data: bytes) -> None:
        """Check the next bytes; JSON syntax errors are raised as ijson raises them."""
        for start in range(0, len(data), PIECE_BYTES):
            try:
                self._parser.send(data[start : start + PIECE_BYTES])
            finally:
                # Events before a syntax error count too: the builder reads up to there.
                self._account()

    def close(self) -> None:
        try:
            self._parser.close()
        finally:
            self._account()

    def _account(self) -> None:
        events = self._events
        if not events:
            return
        opens = events.count(_START_MAP) + events.count(_START_ARRAY)
        if self.depth + opens > self.max_depth:
            self._walk(events)
        else:
            self.depth += opens - events.count(_END_MAP) - events.count(_END_ARRAY)
        events.clear()

    def _walk(self, events: list[tuple[str, Any]]) -> None:
        depth = self.depth
        for event in events:
            if event in _OPENS:
                depth += 1
                if depth > self.max_depth:
                    events.clear()
                    raise JsonTooDeep(self.max_depth)
            elif event in _CLOSES:
                depth -= 1
        self.depth = depth


def items(
    stream: BinaryIO,
    prefix: str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    multiple_values: bool = False,
    map_type: type[dict[str, Any]] | None = None,
) -> Iterator[Any]:
    """ijson.items(stream, prefix) with a nesting limit (floats, not Decimals).

    A syntax error or JsonTooDeep is raised after every item completed before it.
    `map_type` is the dict type ijson builds objects with (to cap their size).
    """
    reader = _GuardedReader(stream, DepthGuard(max_depth, multiple_values=multiple_values))
    options: dict[str, Any] = {"use_float": True}
    if map_type is not None:
        options["map_type"] = map_type
    try:
        yield from ijson.items(reader, prefix, multiple_values=multiple_values, **options)
    except ijson.JSONError:
        if reader.too_deep is not None:
            raise reader.too_deep from None
        raise
    if reader.too_deep is not None:
        raise reader.too_deep


class _GuardedReader:
    """The stream as ijson reads it, every chunk measured by the guard first. A chunk that
    would go too deep is cut where it could first have done so (the items before it still
    come out), and the stream ends there."""

    def __init__(self, stream: BinaryIO, guard: DepthGuard):
        self._stream = stream
        self._guard = guard
        self._blind = False
        self.too_deep: JsonTooDeep | None = None

    def read(self, size: int = -1) -> bytes:
        if self.too_deep is not None:
            return b""
        data: bytes = self._stream.read(size)
        if not data or self._blind:
            return data
        for start in range(0, len(data), PIECE_BYTES):
            piece = data[start : start + PIECE_BYTES]
            room = self._guard.max_depth - self._guard.depth
            try:
                self._guard.feed(piece)
            except JsonTooDeep as exc:
                self.too_deep = exc
                return data[:start] + _shallow_prefix(piece, room)
            except (ijson.JSONError, UnicodeDecodeError):
                # The builder parses the same bytes the same way and stops at the same
                # place with its own error; nothing after it is read.
                self._blind = True
                return data
        return data


def _shallow_prefix(piece: bytes, room: int) -> bytes:
    """The longest start of `piece` holding at most `room` opening brackets: whatever it
    holds (brackets inside strings count too) cannot nest deeper than allowed."""
    for count, match in enumerate(_OPENING.finditer(piece)):
        if count == room:
            return piece[: match.start()]
    return piece


def _drain(found: list[Any]) -> Iterator[Any]:
    while found:
        batch = list(found)
        found.clear()
        yield from batch


def first_events(stream: BinaryIO, count: int, *, multiple_values: bool = False) -> list[Any]:
    """The first `count` (event, value) pairs of a document, without prefixes; fewer when
    the document ends or breaks first."""
    events = sendable_list()
    parser = ijson.basic_parse_coro(events, multiple_values=multiple_values, use_float=True)
    while len(events) < count:
        chunk = stream.read(PIECE_BYTES)
        try:
            if not chunk:
                parser.close()
                break
            parser.send(chunk)
        except (ijson.JSONError, UnicodeDecodeError):
            # Found by atheris: a first key that is not UTF-8. What came before counts.
            break
    return list(events[:count])


def check_depth(data: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Raise JsonTooDeep when the JSON text nests deeper than `max_depth`; other syntax
    errors are left to the real parser."""
    if isinstance(data, str):
        # Fewer brackets than the limit cannot nest past it: most texts stop here.
        if data.count("[") + data.count("{") <= max_depth:
            return
        data = data.encode("utf-8", "surrogatepass")
    elif data.count(b"[") + data.count(b"{") <= max_depth:
        return
    guard = DepthGuard(max_depth, multiple_values=True)
    try:
        guard.feed(data)
        guard.close()
    except JsonTooDeep:
        raise
    except (ijson.JSONError, UnicodeDecodeError):
        return


def loads(text: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """json.loads with the nesting limit (JsonTooDeep, a ValueError-free ijson error)."""
    check_depth(text, max_depth)
    return json.loads(text)
