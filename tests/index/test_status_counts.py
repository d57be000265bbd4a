"""The counters `status` reads (issue 14): the one row of `status_counts`, kept by
triggers, always equals the counts taken from the tables, after every kind of drop, a
drop that changes, a rematch, gc and a reindex; an index migrated with data in it starts
with the right counts. `status` at 50,000 conversations spent about 150 ms counting
resolved references and orphans."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from mediasyncd.index import status
from mediasyncd.index.sqlite import open_for_reading, open_index
from tests.helpers import make_zip, media_bytes, run_in_state
from tests.reliability.fullcorpus import write_full_corpus
from tests.support.chatgpt_corpus import build_corpus, earlier_version, write_export


def _check(state: Path) -> dict[str, int]:
    index = open_for_reading(state / "index.db")
    try:
        kept = status.kept_counts(index)
        assert kept is not None
        assert kept == status.counted(index)
        return kept
    finally:
        index.close()


def test_the_counters_equal_the_counts_through_every_change(tmp_path: Path) -> None:
    state = tmp_path / "state"
    corpus = build_corpus(seed=77, n_conversations=20)
    older = write_export(earlier_version(corpus, 3), tmp_path / "old", "A", name="export")
    assert run_in_state(state, "ingest", older.path).returncode == 0
    first = _check(state)
    assert first["conversations"] > 0 and first["refs"] > 0 and first["blobs"] > 0

    drops = write_full_corpus(tmp_path / "drops")
    loose = make_zip(tmp_path / "loose.zip", {f"x/{n}.png": media_bytes(400, n) for n in range(6)})
    assert run_in_state(state, "ingest", *drops, loose).returncode in (0, 3)
    after = _check(state)
    assert after["orphans"] >= 6  # the loose files are linked to nothing
    assert after["refs_resolved"] > first["refs_resolved"]

    # The same path with other bytes: occurrences and keys replaced, conversations
    # rewritten, links recomputed.
    newer = write_export(corpus, tmp_path / "old", "A", name="export")
    assert newer.path == older.path
    assert run_in_state(state, "ingest", newer.path).returncode == 0
    _check(state)
    loose.unlink()
    make_zip(loose, {f"x/{n}.png": media_bytes(400, n) for n in range(3)})
    assert run_in_state(state, "ingest", loose).returncode == 0
    _check(state)
    assert run_in_state(state, "rematch").returncode == 0
    _check(state)
    assert run_in_state(state, "gc", "--grace", "0").returncode == 0
    _check(state)
    assert run_in_state(state, "reindex", "--yes").returncode == 0
    _check(state)


def test_an_index_migrated_with_data_starts_with_its_counts(tmp_path: Path) -> None:
    """An index from before the counters: the migration fills the row from the tables."""
    state = tmp_path / "state"
    drops = write_full_corpus(tmp_path / "drops")
    assert run_in_state(state, "ingest", *drops).returncode == 0
    expected = _check(state)
    db = state / "index.db"
    old = tmp_path / "old.db"
    shutil.copy(db, old)
    conn = sqlite3.connect(old)
    conn.execute("DROP TABLE status_counts")
    triggers = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'").fetchall()
    for (name,) in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0007_status_counters'")
    conn.commit()
    conn.close()
    index = open_index(old)
    try:
        assert status.kept_counts(index) == expected
    finally:
        index.close()
