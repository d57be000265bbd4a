"""Row writers for sources, blobs, occurrences, keys, failures and the file cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mediasyncd.index import Index, objects, sources
from mediasyncd.store.digest import digest_bytes
from tests.engines import BOTH
from tests.index.engines import open_test_index

pytestmark = BOTH

D1 = digest_bytes(b"one")
D2 = digest_bytes(b"two")


@pytest.fixture
def index(index_url: str) -> Iterator[Index]:
    idx = open_test_index(index_url)
    yield idx
    idx.close()


def _source(index: Index, path: str = "/drop/a.zip", fingerprint: str = "f1") -> sources.SourceRow:
    return sources.begin_source_run(
        index,
        path,
        is_dir=False,
        size=10,
        mtime_ns=1,
        inode=2,
        device=3,
        fingerprint=fingerprint,
    )


def test_source_runs_count_up_and_reset_state(index: Index) -> None:
    """Each run of a source bumps its run number and sets it pending with no error."""
    first = _source(index)
    assert (first.run, first.state, first.fingerprint) == (1, "pending", "f1")
    sources.finish_source(index, first.id, state="failed", error="bad", members=3)
    second = _source(index, fingerprint="f2")
    assert (second.id, second.run, second.state, second.fingerprint) == (
        first.id,
        2,
        "pending",
        "f2",
    )
    assert index.scalar("SELECT error FROM sources") is None
    assert index.scalar("SELECT members FROM sources") == 3
    sources.finish_source(index, first.id, state="ok", error=None)
    assert sources.get_source(index, "/drop/a.zip").state == "ok"  # type: ignore[union-attr]
    assert sources.get_source(index, "/nope") is None


def test_source_state_is_constrained(index: Index) -> None:
    """The schema refuses a state other than pending/ok/failed."""
    row = _source(index)
    with pytest.raises(Exception, match=r"(?i)check"):
        sources.finish_source(index, row.id, state="weird", error=None)


def test_blob_upsert_keeps_first_values_and_fills_sha256(index: Index) -> None:
    """Recording a blob twice keeps one row; a later SHA-256 fills a missing one."""
    objects.record_blob(index, D1, 3, "image/png", None)
    objects.record_blob(index, D1, 3, "image/png", "ab" * 32)
    objects.record_blob(index, D1, 3, "image/png", "cd" * 32)
    assert index.execute("SELECT digest, size, mime, kind, sha256 FROM blobs").fetchall() == [
        (D1, 3, "image/png", "image", "ab" * 32)
    ]
    assert objects.blob_info(index, D1) == objects.BlobInfo(3, "image/png", "ab" * 32)
    assert objects.blob_info(index, D2) is None


def test_occurrence_same_digest_is_updated_new_digest_replaced(index: Index) -> None:
    """Same member with the same bytes: one row, run updated, not new. Same member with
    other bytes: the old row and its keys go, a new row is new."""
    row = _source(index)
    objects.record_blob(index, D1, 3, "image/png", None)
    objects.record_blob(index, D2, 3, "image/png", None)
    occ, new = objects.record_occurrence(index, row.id, "a/x.png", D1, "media", 3, 7, 1)
    assert new
    objects.record_keys(index, occ, [("filename", "x.png", None)])
    again, new_again = objects.record_occurrence(index, row.id, "a/x.png", D1, "media", 3, 7, 2)
    assert (again, new_again) == (occ, False)
    assert index.scalar("SELECT run FROM occurrences") == 2
    changed, is_new = objects.record_occurrence(index, row.id, "a/x.png", D2, "media", 3, 8, 3)
    assert is_new and changed > 0
    assert index.execute("SELECT member, digest FROM occurrences").fetchall() == [("a/x.png", D2)]
    assert index.scalar("SELECT COUNT(*) FROM occurrence_keys") == 0


def test_stale_occurrences_and_their_keys(index: Index) -> None:
    """Members not seen in the latest run are stale: their keys are reported, then removed."""
    row = _source(index)
    objects.record_blob(index, D1, 3, "image/png", None)
    old, _ = objects.record_occurrence(index, row.id, "gone.png", D1, "media", 3, None, 1)
    objects.record_keys(index, old, [("filename", "gone.png", None)])
    objects.record_occurrence(index, row.id, "kept.png", D1, "media", 3, None, 2)
    assert objects.stale_occurrence_keys(index, row.id, 2) == [("filename", "gone.png")]
    assert objects.remove_stale_occurrences(index, row.id, 2) == 1
    assert [r[0] for r in index.execute("SELECT member FROM occurrences")] == ["kept.png"]


def test_member_failures_are_replaced_per_source(index: Index) -> None:
    """A new run's failures replace the old ones for that source only."""
    a = _source(index, "/a")
    b = _source(index, "/b")
    sources.replace_member_failures(index, a.id, [("x", "bad name"), (None, "whole")])
    sources.replace_member_failures(index, b.id, [("y", "too big")])
    sources.replace_member_failures(index, a.id, [("z", "ratio")])
    assert sorted(index.execute("SELECT source_id, member, error FROM member_failures")) == [
        (a.id, "z", "ratio"),
        (b.id, "y", "too big"),
    ]


def test_file_cache_hits_only_on_same_device_inode_size_mtime(index: Index) -> None:
    """The cache returns a digest only when device, inode, size and mtime all match."""
    objects.remember_file(index, "/d/x", 1, 2, 3, 4, D1)
    assert objects.cached_digest(index, "/d/x", 1, 2, 3, 4) == D1
    for changed in [(9, 2, 3, 4), (1, 9, 3, 4), (1, 2, 9, 4), (1, 2, 3, 9)]:
        assert objects.cached_digest(index, "/d/x", *changed) is None
    objects.remember_file(index, "/d/x", 1, 2, 5, 6, D2)
    assert objects.cached_digest(index, "/d/x", 1, 2, 5, 6) == D2
    assert objects.cached_digest(index, "/d/other", 1, 2, 5, 6) is None


def test_crc_hint(index: Index) -> None:
    """A (crc32, size) seen before hints at the digest; other sizes do not."""
    row = _source(index)
    objects.record_blob(index, D1, 3, "image/png", None)
    objects.record_occurrence(index, row.id, "x.png", D1, "media", 3, 12345, 1)
    assert objects.digest_for_crc(index, 12345, 3) == D1
    assert objects.digest_for_crc(index, 12345, 4) is None
    assert objects.digest_for_crc(index, 54321, 3) is None


def test_deleting_a_source_cascades(index: Index) -> None:
    """Removing a source removes its occurrences, keys and failures, never the blobs."""
    row = _source(index)
    objects.record_blob(index, D1, 3, "image/png", None)
    occ, _ = objects.record_occurrence(index, row.id, "x.png", D1, "media", 3, None, 1)
    objects.record_keys(index, occ, [("filename", "x.png", None)])
    sources.replace_member_failures(index, row.id, [("y", "bad")])
    index.execute("DELETE FROM sources WHERE id = ?", (row.id,))
    for table in ("occurrences", "occurrence_keys", "member_failures"):
        assert index.scalar(f"SELECT COUNT(*) FROM {table}") == 0
    assert index.scalar("SELECT COUNT(*) FROM blobs") == 1


def test_occurrence_needs_a_blob(index: Index) -> None:
    """An occurrence cannot name a digest with no blob row (foreign key)."""
    row = _source(index)
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        objects.record_occurrence(index, row.id, "x.png", D1, "media", 3, None, 1)
