"""The store is the source of truth (docs/reliability.md, scenario 12): with every drop deleted
and the index thrown away, `mediasyncd reindex` rebuilds it from the manifests and stored
documents alone and ends with the same matches.

tests/ingest/test_replay.py does this in-process for a ChatGPT export and a privacy archive;
here the corpus also has an image dump and a Langfuse trace export, reindex runs as the
CLI in a child process, and the index file is deleted outright (not just moved aside).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mediasyncd.app import App
from tests.helpers import assert_store_consistent, run_mediasyncd
from tests.reliability.fullcorpus import links_snapshot, write_full_corpus


def _rows(app: App, sql: str) -> list[tuple[object, ...]]:
    return sorted(tuple(r) for r in app.index.execute(sql).fetchall())


def test_reindex_after_deleting_every_drop_and_the_index(tmp_path: Path) -> None:
    """Same links (conversation matches, unresolved references, photo-trace pairs), same
    conversations, traces and occurrences, with nothing left but the object store."""
    drops = write_full_corpus(tmp_path / "drops")
    state = tmp_path / "state"
    done = run_mediasyncd(["--state-dir", str(state), "ingest", *map(str, drops)])
    assert done.returncode == 0, done.stderr
    queries = {
        "conversations": "SELECT id, title FROM conversations",
        "traces": "SELECT id, user_id, ts FROM traces",
        "occurrences": """SELECT s.path, o.member, o.digest FROM occurrences o
                          JOIN sources s ON s.id = o.source_id""",
        "sources": "SELECT path, kind, state FROM sources",
    }
    app = App.load(state_dir=str(state))
    try:
        before = links_snapshot(app.index)
        tables = {name: _rows(app, sql) for name, sql in queries.items()}
    finally:
        app.close()
    assert before["matches"] and before["trace_pairs"]

    shutil.rmtree(tmp_path / "drops")
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (state / name).unlink(missing_ok=True)

    rebuilt = run_mediasyncd(["--state-dir", str(state), "reindex", "--json", "--yes"])
    assert rebuilt.returncode == 0, rebuilt.stderr
    summary = json.loads(rebuilt.stdout)
    assert summary["sources"] == len(drops)
    assert summary["missing_objects"] == []

    app = App.load(state_dir=str(state))
    try:
        assert_store_consistent(app.index, app.store)
        assert links_snapshot(app.index) == before
        assert {name: _rows(app, sql) for name, sql in queries.items()} == tables
    finally:
        app.close()
