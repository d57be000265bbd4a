"""Blobs, occurrences, keys and the file cache (mediasyncd.index.objects)."""

from __future__ import annotations

import pytest

from mediasyncd.index import Index, objects
from tests.engines import BOTH
from tests.index.conftest import D1, D2
from tests.index.conftest import begin_source as _source

pytestmark = BOTH


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


def test_occurrence_needs_a_blob(index: Index) -> None:
    """An occurrence cannot name a digest with no blob row (foreign key)."""
    row = _source(index)
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        objects.record_occurrence(index, row.id, "x.png", D1, "media", 3, None, 1)


def test_held_keyed_files_is_exactly_the_candidates_an_occurrence_already_holds(
    index: Index,
) -> None:
    """A candidate is held only when one occurrence has that file (digest, member path,
    role) under that key with that extra: another extra, role, member path, digest or
    key makes it new (runs on both engines: the NULL-safe comparison of extra)."""
    row = _source(index)
    objects.record_blob(index, D1, 3, "image/png", None)
    objects.record_blob(index, D2, 3, "image/png", None)
    occ, _ = objects.record_occurrence(index, row.id, "c1/x.png", D1, "media", 3, None, 1)
    objects.record_keys(index, occ, [("filename", "x.png", None), ("file_id", "file-1", "e")])
    held = ("filename", "x.png", D1, "c1/x.png", "media", None)
    held_extra = ("file_id", "file-1", D1, "c1/x.png", "media", "e")
    others = [
        ("filename", "x.png", D1, "c1/x.png", "media", "e"),  # extra differs (NULL vs e)
        ("file_id", "file-1", D1, "c1/x.png", "media", None),  # extra differs (e vs NULL)
        ("filename", "x.png", D1, "c1/x.png", "other", None),  # role
        ("filename", "x.png", D1, "c2/x.png", "media", None),  # member path
        ("filename", "x.png", D2, "c1/x.png", "media", None),  # digest
        ("filename", "y.png", D1, "c1/x.png", "media", None),  # key
        ("conversation_dir", "x.png", D1, "c1/x.png", "media", None),  # key kind
    ]
    found = objects.held_keyed_files(index, [held, held_extra, *others, held])
    assert found == {held, held_extra}
    assert objects.held_keyed_files(index, []) == set()


def test_held_keyed_files_finds_the_holder_among_many_copies_of_the_file(index: Index) -> None:
    """A file kept by every monthly export has one occurrence per export; the candidate is
    held when any one of them has its member path and key, whichever comes first."""
    objects.record_blob(index, D1, 3, "image/png", None)
    for month in range(4):
        row = _source(index, f"/drop/month-{month}.zip", f"f{month}")
        member = "c2/x.png" if month == 2 else "c1/x.png"
        occ, _ = objects.record_occurrence(index, row.id, member, D1, "media", 3, None, 1)
        if month != 0:  # the first month's copy has no keys at all
            objects.record_keys(index, occ, [("filename", "x.png", None)])
    in_c2 = ("filename", "x.png", D1, "c2/x.png", "media", None)
    in_c3 = ("filename", "x.png", D1, "c3/x.png", "media", None)
    assert objects.held_keyed_files(index, [in_c2, in_c3]) == {in_c2}


def test_add_alias_gives_its_key_to_each_file_of_that_name_once(index: Index) -> None:
    """Every occurrence named so gains the key (a size alias: each its own size); what it
    returns is the keys some file gained, and adding the alias again gains nothing."""
    objects.record_blob(index, D1, 3, "image/png", None)
    objects.record_blob(index, D2, 5, "image/png", None)
    first = _source(index, "/drop/a.zip", "fa")
    second = _source(index, "/drop/b.zip", "fb")
    a, _ = objects.record_occurrence(index, first.id, "c1/img.dat", D1, "media", 3, None, 1)
    b, _ = objects.record_occurrence(index, second.id, "c9/img.dat", D2, "media", 5, None, 1)
    objects.record_occurrence(index, second.id, "c9/other.dat", D2, "media", 5, None, 1)
    objects.record_keys(index, a, [("file_id", "file-1", "dat_map")])  # already has it
    gained = objects.add_alias(index, "img.dat", "file_id", "file-1", "dat_map", "doc:x")
    assert gained == [("file_id", "file-1")]  # only b gained it
    assert sorted(objects.add_alias(index, "img.dat", "size", "", None, "doc:x")) == [
        ("size", "3"),
        ("size", "5"),
    ]
    assert objects.add_alias(index, "img.dat", "file_id", "file-1", "dat_map", "doc:x") == []
    keys = index.execute(
        "SELECT occurrence_id, key_kind, key, extra FROM occurrence_keys ORDER BY 1, 2, 3"
    ).fetchall()
    assert [tuple(k) for k in keys] == [
        (a, "file_id", "file-1", "dat_map"),
        (a, "size", "3", None),
        (b, "file_id", "file-1", "dat_map"),
        (b, "size", "5", None),
    ]
