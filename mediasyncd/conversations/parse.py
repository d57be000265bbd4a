"""Streaming the conversations out of a (possibly huge) JSON document, one at a time.

`conversations.json` can be a gigabyte; ijson yields one conversation object at a time so
memory stays bounded by the largest single conversation, and that one is bounded too: no
JSON object grows past `max_nodes` keys (`limits.max_conversation_nodes`), so a mapping
of a million nodes holds at most that many while the rest stream past, and the
conversation is handed on as an `OversizedConversation` to be refused. Every document is
read with the nesting limit of mediasyncd.jsonstream. Accepted shapes (docs/formats.md, section 2):
a JSON array of conversations, `{"conversations": [...]}` (anywhere among the keys), or a
single conversation object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson

from mediasyncd import jsonstream

# Opens a fresh stream of the document (from the store: `lambda: store.open(digest)`).
Opener = Callable[[], BinaryIO]


class DocumentError(ValueError):
    """The document is not valid JSON, or not of an accepted shape."""


@dataclass(frozen=True)
class OversizedConversation:
    """A conversation whose mapping had more nodes than allowed: only its id is kept."""

    conversation_id: str | None
    max_nodes: int


def _capped_object_type(limit: int) -> type[dict[str, Any]]:
    """A dict type for ijson's objects that stops growing at `limit` keys.

    ijson builds every JSON object with it; keys past the limit are dropped as they
    arrive (their values are built, then freed), and the object remembers it was cut.
    """

    class CappedObject(dict[str, Any]):
        cut = False

        def __setitem__(self, key: str, value: Any) -> None:
            if len(self) < limit or key in self:
                dict.__setitem__(self, key, value)
            else:
                self.cut = True

    return CappedObject


@dataclass
class ConversationStream:
    """Iterates conversations; after iteration `error` holds a parse error, if any.

    With `max_nodes`, a conversation whose mapping has more nodes is yielded as an
    `OversizedConversation`, and no object of the document grows past that many keys.
    """

    opener: Opener
    max_nodes: int | None = None
    max_depth: int = jsonstream.DEFAULT_MAX_DEPTH
    count: int = 0
    error: str | None = None
    _map_type: type[dict[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.max_nodes is not None:
            self._map_type = _capped_object_type(self.max_nodes)

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._items()
        except jsonstream.JsonTooDeep as exc:
            self.error = f"{exc}{self._after()}"
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
            self.error = f"invalid JSON{self._after()}: {one_line(exc)}"

    def _after(self) -> str:
        return f" after {self.count} conversation(s)" if self.count else ""

    def _items(self) -> Iterator[Any]:
        with self.opener() as handle:
            head = handle.read(4096)
        stripped = head.lstrip()
        if stripped.startswith(b"\xef\xbb\xbf"):
            stripped = stripped[3:].lstrip()
        if not stripped:
            raise ijson.IncompleteJSONError("empty document")
        if stripped[:1] == b"[":
            yield from self._stream("item")
            return
        if stripped[:1] != b"{":
            raise ijson.JSONError("expected a JSON array or object")
        yield from self._stream("conversations.item")
        if self.count == 0:
            # Not the {"conversations": [...]} form: a single conversation object.
            with self.opener() as handle:
                for item in jsonstream.items(
                    handle, "", max_depth=self.max_depth, map_type=self._map_type
                ):
                    if isinstance(item, dict) and "mapping" in item:
                        self.count += 1
                        yield self._bounded(item)
                    elif isinstance(item, dict) and "conversations" not in item:
                        raise ijson.JSONError(
                            "an object with neither `conversations` nor `mapping`"
                        )
                    elif isinstance(item, dict) and not isinstance(item["conversations"], list):
                        # Found by the hostile corpus: this read as an empty export.
                        raise ijson.JSONError("`conversations` is not a list")

    def _stream(self, prefix: str) -> Iterator[Any]:
        with self.opener() as handle:
            for item in jsonstream.items(
                handle, prefix, max_depth=self.max_depth, map_type=self._map_type
            ):
                self.count += 1
                yield self._bounded(item)

    def _bounded(self, item: Any) -> Any:
        """The item, or a small stand-in when its mapping was cut at the node limit."""
        if self.max_nodes is None or not isinstance(item, dict):
            return item
        if getattr(item.get("mapping"), "cut", False):
            ident = item.get("conversation_id") or item.get("id")
            return OversizedConversation(ident if isinstance(ident, str) else None, self.max_nodes)
        return item


def one_line(exc: BaseException) -> str:
    """A parser's message on one line: yajl adds lines quoting the text around the byte
    with an arrow under it, which say nothing to a person."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return " ".join(lines[0].split())[:300]


def load_small_json(
    opener: Opener,
    size: int,
    limit: int = 256 * 1024 * 1024,
    *,
    max_depth: int = jsonstream.DEFAULT_MAX_DEPTH,
) -> Any:
    """Parse a map-sized JSON document (name maps, library listings, manifests) of
    `size` bytes."""
    if size > limit:
        raise DocumentError(f"{size} bytes is larger than the {limit} bytes allowed for a map")
    with opener() as handle:
        try:
            return next(jsonstream.items(handle, "", max_depth=max_depth))
        except jsonstream.JsonTooDeep as exc:
            raise DocumentError(str(exc)) from exc
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
            raise DocumentError(f"invalid JSON: {one_line(exc)}") from exc
        except StopIteration as exc:
            raise DocumentError("invalid JSON: empty document") from exc


def iter_json_array(
    opener: Opener, *, max_depth: int = jsonstream.DEFAULT_MAX_DEPTH
) -> Iterator[Any]:
    """The items of a top-level array, streamed (library_files.json can be long)."""
    with opener() as handle:
        try:
            yield from jsonstream.items(handle, "item", max_depth=max_depth)
        except jsonstream.JsonTooDeep as exc:
            raise DocumentError(str(exc)) from exc
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
            raise DocumentError(f"invalid JSON: {one_line(exc)}") from exc


def extract_assets_json(
    opener: Opener,
    *,
    window: int = 64 * 1024 * 1024,
    max_depth: int = jsonstream.DEFAULT_MAX_DEPTH,
) -> dict[str, str]:
    """`var assetsJson = {...}` from chat.html, which also embeds every conversation.

    The file is read once, in chunks, for the marker; the object after it is decoded
    from a bounded window, so a multi-gigabyte chat.html never sits in memory whole (and
    the stream need not seek: an object store's may not).
    """
    blob = _window_after(opener, b"assetsJson", window)
    if blob is None:
        return {}
    brace = blob.find(b"{")
    if brace < 0:
        return {}
    text = blob[brace:].decode("utf-8", "replace")
    try:
        value = _first_value(text, max_depth)
    except jsonstream.JsonTooDeep as exc:
        raise DocumentError(f"assetsJson: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DocumentError(f"assetsJson is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise DocumentError("assetsJson is not an object")
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def _window_after(opener: Opener, marker: bytes, window: int) -> bytes | None:
    """`window` bytes from the first `marker` on, or None when there is none."""
    carry = b""
    with opener() as handle:
        while True:
            chunk = handle.read(1 << 20)
            if not chunk:
                return None
            data = carry + chunk
            position = data.find(marker)
            if position >= 0:
                blob = data[position:]
                break
            carry = data[-len(marker) :]
        while len(blob) < window:
            chunk = handle.read(min(1 << 20, window - len(blob)))
            if not chunk:
                break
            blob += chunk
    return blob[:window]


def _first_value(text: str, max_depth: int) -> Any:
    """The JSON value at the start of `text` (what follows it is page script)."""
    decoder = json.JSONDecoder()
    # Past the limit the decoder's recursion would fail (or, just under Python's limit,
    # succeed with a value nothing else can walk): measure the nesting of the object first.
    guard = jsonstream.DepthGuard(max_depth, multiple_values=True)
    try:
        guard.feed(text.encode("utf-8", "surrogatepass"))
    except jsonstream.JsonTooDeep:
        raise
    except ijson.JSONError:
        pass  # the script after the object; the decoder stops before it
    value, _ = decoder.raw_decode(text)
    return value
