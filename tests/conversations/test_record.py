"""What recording a batch of conversations does (mediasyncd.conversations.record): one
set of statements for the batch, with the outcome of each conversation as if they were
recorded one at a time, also when a conversation appears twice in the batch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mediasyncd.conversations.extract import ConversationData, MessageRow, RefRow
from mediasyncd.conversations.record import record_conversations
from mediasyncd.index import Index
from tests.index.engines import open_test_index


@pytest.fixture
def index() -> Iterator[Index]:
    idx = open_test_index("")
    yield idx
    idx.close()


def _conversation(ident: str, update_time: float, text: str) -> ConversationData:
    message = MessageRow(f"{ident}-m", None, "user", None, None, "text", update_time, text)
    ref = RefRow(f"{ident}-m", "asset_pointer", "file_id", f"file-{text}")
    return ConversationData(
        ident, text, update_time, update_time, None, None, None, f"hash-{text}", [message], [ref]
    )


def _rows(index: Index, ident: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    conversation = index.execute(
        "SELECT title, update_time FROM conversations WHERE id = ?", (ident,)
    ).fetchall()
    refs = index.execute(
        "SELECT key FROM refs WHERE conversation_id = ? ORDER BY id", (ident,)
    ).fetchall()
    return [tuple(r) for r in conversation], [tuple(r) for r in refs]


@pytest.mark.parametrize(
    ("times", "outcomes", "kept"),
    [
        ((2.0, 1.0), ["new", "older"], "first"),
        ((1.0, 2.0), ["new", "changed"], "second"),
    ],
)
def test_a_conversation_twice_in_a_batch_is_recorded_as_one_at_a_time(
    index: Index, times: tuple[float, float], outcomes: list[str], kept: str
) -> None:
    """The later copy is compared with what the earlier one wrote: an older one never
    overwrites, a newer one replaces the row, the messages and the references."""
    batch = [
        _conversation("a", times[0], "first"),
        _conversation("b", 5.0, "other"),
        _conversation("a", times[1], "second"),
    ]
    with index.write():
        got = record_conversations(index, batch, source_id=None, account=None)
    assert got == [outcomes[0], "new", outcomes[1]]
    conversation, refs = _rows(index, "a")
    assert conversation == [(kept, max(times) if kept == "second" else times[0])]
    assert refs == [(f"file-{kept}",)]
    assert _rows(index, "b") == ([("other", 5.0)], [("file-other",)])


def test_a_batch_records_the_same_as_one_at_a_time(index: Index) -> None:
    batch = [_conversation(f"c{i}", float(i), f"t{i}") for i in range(5)]
    with index.write():
        assert record_conversations(index, batch, source_id=None, account=None) == ["new"] * 5
        again = record_conversations(index, batch, source_id=None, account=None)
    assert again == ["unchanged"] * 5
    keys = index.execute("SELECT conversation_id, key FROM refs ORDER BY id").fetchall()
    assert [tuple(k) for k in keys] == [(f"c{i}", f"file-t{i}") for i in range(5)]
