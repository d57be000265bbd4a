"""Sources: their runs, states and member failures (mediasyncd.index.sources)."""

from __future__ import annotations

import pytest

from mediasyncd.index import Index, objects, sources
from tests.engines import BOTH
from tests.index.conftest import D1
from tests.index.conftest import begin_source as _source

pytestmark = BOTH


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
