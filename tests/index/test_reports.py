"""Records for `matches` and `unresolved`: the contract's fields, filters and order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mediasyncd.index import Index, objects, sources
from mediasyncd.index.reports import (
    MATCH_COLUMNS,
    UNRESOLVED_COLUMNS,
    iter_matches,
    iter_unresolved,
)
from mediasyncd.store.digest import digest_bytes
from tests.engines import BOTH
from tests.index.engines import open_test_index

pytestmark = BOTH

D1 = digest_bytes(b"first")
D2 = digest_bytes(b"second")


@pytest.fixture
def index(index_url: str) -> Iterator[Index]:
    """An index with two sources, two conversations, refs and matches."""
    idx = open_test_index(index_url)
    for path, digest in (("/drop/one.zip", D1), ("/drop/two.zip", D1), ("/drop/two.zip", D2)):
        row = sources.get_source(idx, path) or sources.begin_source_run(
            idx, path, is_dir=False, size=1, mtime_ns=1, inode=1, device=1, fingerprint="f"
        )
        objects.record_blob(idx, digest, 5, "image/png", None)
        objects.record_occurrence(
            idx, row.id, f"files/{digest[:4]}.png", digest, "media", 5, None, 1
        )
    for cid in ("c1", "c2"):
        idx.execute(
            "INSERT INTO conversations (id, content_hash, updated) VALUES (?, 'h', 'now')", (cid,)
        )
    refs = [
        (1, "conversation", "c1", "m1", None, None, "asset", "file_id", "file-1"),
        (2, "conversation", "c2", "m9", None, None, "asset", "file_id", "file-2"),
        (3, "conversation", "c2", None, None, None, "text_mention", "filename", "x.png"),
        (4, "trace", None, None, "t1", "u1", "image", "user_time", "u1"),
    ]
    idx.executemany(
        """INSERT INTO refs (id, subject, conversation_id, message_id, trace_id, user_id, kind,
                             key_kind, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        refs,
    )
    matches = [
        ("conversation", "c1", "m1", None, None, D1, 1, "file_id", "generated", 1.0),
        ("trace", None, None, "t1", "u1", D2, 4, "time", "attachment", 0.4),
    ]
    idx.executemany(
        """INSERT INTO matches (subject, conversation_id, message_id, trace_id, user_id, digest,
                                ref_id, strategy, association, confidence)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        matches,
    )
    yield idx
    idx.close()


def test_match_records_have_the_contract_fields(index: Index) -> None:
    """Each match record has exactly the contract's fields; path is the oldest source's
    place of the file (source path, then member)."""
    found = list(iter_matches(index))
    assert [set(r) for r in found] == [set(MATCH_COLUMNS)] * 2
    conversation = found[0]
    assert conversation["subject"] == "conversation" and conversation["message_id"] == "m1"
    assert conversation["path"] == f"/drop/one.zip!/files/{D1[:4]}.png"
    assert found[1]["subject"] == "trace" and found[1]["user_id"] == "u1"


def test_match_filters(index: Index) -> None:
    """Filters narrow by subject, conversation, user, strategy and confidence."""
    assert [r["digest"] for r in iter_matches(index, subject="trace")] == [D2]
    assert [r["conversation_id"] for r in iter_matches(index, conversations=["c1"])] == ["c1"]
    assert list(iter_matches(index, conversations=["nope"])) == []
    assert [r["trace_id"] for r in iter_matches(index, users=["u1"])] == ["t1"]
    assert [r["strategy"] for r in iter_matches(index, strategies=["time"])] == ["time"]
    assert [r["digest"] for r in iter_matches(index, min_confidence=0.5)] == [D1]


def test_unresolved_references(index: Index) -> None:
    """References no match names are unresolved; text mentions are left out unless asked."""
    found = list(iter_unresolved(index))
    assert [(r["conversation_id"], r["key"]) for r in found] == [("c2", "file-2")]
    assert set(UNRESOLVED_COLUMNS) <= set(found[0])
    with_mentions = list(iter_unresolved(index, include_mentions=True))
    assert {r["key"] for r in with_mentions} == {"file-2", "x.png"}
    assert list(iter_unresolved(index, subject="trace")) == []
    assert list(iter_unresolved(index, conversations=["c1"])) == []
    assert list(iter_unresolved(index, users=["u1"])) == []
