"""The fast path's array scanner (mediasyncd.conversations.spans): every item's exact
bytes, and literals that put the document back together byte for byte, whatever the
window and however many `}, {` the items hold inside them."""

from __future__ import annotations

import io
import json
import random

import pytest

from mediasyncd.conversations import spans
from mediasyncd.conversations.spans import ArrayScan, Item, Literal

SEED = 20261129


def _conversation(rng: random.Random, number: int) -> dict[str, object]:
    """An item full of nested arrays of objects: each `}, {` inside it is a false cut."""
    parts = [
        {"content_type": "text", "text": f"part {i} }}, {{ in a string {rng.random()}"}
        for i in range(rng.randint(0, 30))
    ]
    return {
        "id": f"conv-{number}",
        "mapping": {f"n{i}": {"message": {"parts": parts[: i + 1]}} for i in range(5)},
        "title": "x" * rng.randint(0, 2000),
    }


def _document(seed: int, count: int, indent: int | None) -> bytes:
    rng = random.Random(seed)
    items = [_conversation(rng, n) for n in range(count)]
    return json.dumps(items, indent=indent).encode()


def _scan(data: bytes, window: int, embedded_after: bytes | None = None) -> list[Literal | Item]:
    return list(
        ArrayScan(
            io.BytesIO(data),
            max_item_bytes=1 << 24,
            window=window,
            embedded_after=embedded_after,
        )
    )


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("window", [4 << 10, 64 << 10, 8 << 20])
def test_items_are_the_array_elements_and_pieces_rebuild_the_document(
    indent: int | None, window: int
) -> None:
    data = _document(SEED, 60, indent)
    pieces = _scan(data, window)
    assert b"".join(p.data for p in pieces) == data
    items = [p.data for p in pieces if isinstance(p, Item)]
    assert [json.loads(item) for item in items] == json.loads(data)
    assert all(isinstance(p, (Item, Literal)) for p in pieces)


@pytest.mark.parametrize("tail", [1, 16, 1 << 10, 1 << 30])
def test_the_search_from_the_end_finds_the_same_last_cuts_as_listing_them_all(
    monkeypatch: pytest.MonkeyPatch, tail: int
) -> None:
    """Whatever tail is searched first (a byte, a few cuts' worth, more than the
    buffer), the cuts tried are the last CUTS_TRIED of all of them."""
    monkeypatch.setattr(spans, "_CUT_TAIL", tail)
    data = _document(SEED + 1, 40, None)
    scan = ArrayScan(io.BytesIO(data), max_item_bytes=1 << 24)
    scan._buf = data
    rng = random.Random(SEED)
    for pos in [1, *rng.sample(range(len(data)), 30)]:
        every = [m.span() for m in spans._CUT.finditer(data, pos)]
        assert scan._last_cuts(pos) == every[-spans.CUTS_TRIED :]


def test_an_array_embedded_in_a_page_is_found_and_the_page_rebuilt() -> None:
    array = _document(SEED + 2, 25, None)
    page = b"<html><script>var jsonData = " + array + b";\nrender();</script></html>"
    pieces = _scan(page, 4 << 10, embedded_after=b"var jsonData = ")
    assert b"".join(p.data for p in pieces) == page
    items = [p.data for p in pieces if isinstance(p, Item)]
    assert [json.loads(item) for item in items] == json.loads(array)
