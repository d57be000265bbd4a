"""The planner keeps statistics (issue 14): `index.db` is ANALYZEd once after its
migrations and `PRAGMA optimize` runs when a writer closes, so the two lookups that
scanned every row of a large index without them use their selective index.

Without `sqlite_stat1`, SQLite planned `conversation_id = ? AND origin = 'conversation'`
with `refs_origin` (every row matches it: a scan of all references for each continued
conversation) and `stale_occurrence_keys` from `occurrence_keys_lookup (key_kind=?)`.
"""

from __future__ import annotations

from pathlib import Path

from mediasyncd.index.sqlite import open_for_reading, open_index
from tests.helpers import make_zip, media_bytes, run_in_state
from tests.support.chatgpt_corpus import build_corpus, write_export

# The statements as the index modules run them (record_conversations' path and the end of
# an ingest run); EXPLAIN QUERY PLAN shows which index each one starts from.
SHARED_KEYS = """SELECT k.key_kind, k.key FROM ref_keys k JOIN refs r ON r.id = k.ref_id
    WHERE r.conversation_id = ? AND r.origin = 'conversation' AND k.key_kind IN (?)
    UNION
    SELECT r.key_kind, r.key FROM refs r
    WHERE r.conversation_id = ? AND r.origin = 'conversation'
    AND (r.key_kind = 'file_id' OR r.kind = 'text_mention')"""
CLEAR_REFS = "DELETE FROM refs WHERE conversation_id = ? AND origin = 'conversation'"
STALE_KEYS = """SELECT DISTINCT k.key_kind, k.key FROM occurrence_keys k
    JOIN occurrences o ON o.id = k.occurrence_id
    WHERE o.source_id = ? AND o.run != ?
    UNION
    SELECT DISTINCT k.key_kind, k.key FROM occurrences s
    JOIN occurrences o ON o.digest = s.digest
    JOIN occurrence_keys k ON k.occurrence_id = o.id AND k.key_kind = 'filename'
    WHERE s.source_id = ? AND s.run != ?"""


def _plan(db: Path, sql: str, params: tuple[object, ...]) -> str:
    index = open_for_reading(db)
    try:
        rows = index.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    finally:
        index.close()
    return "\n".join(str(row[-1]) for row in rows)


def test_an_ingested_index_plans_its_lookups_from_the_selective_index(tmp_path: Path) -> None:
    """After a real `mediasyncd ingest` (a child process), the index has statistics and
    the three statements start from the conversation's refs and the source's
    occurrences, not from every reference or every key of a kind."""
    state = tmp_path / "state"
    drop = write_export(build_corpus(seed=14, n_conversations=40), tmp_path / "drops", "A")
    others = [make_zip(tmp_path / "drops" / f"photos-{n}.zip", _photos(n)) for n in range(4)]
    done = run_in_state(state, "ingest", drop.path, *others)
    assert done.returncode == 0, done.stderr
    db = state / "index.db"

    shared = _plan(db, SHARED_KEYS, ("c", "size", "c"))
    assert "refs_conversation" in shared and "refs_origin" not in shared, shared
    clear = _plan(db, CLEAR_REFS, ("c",))
    assert "refs_conversation" in clear and "refs_origin" not in clear, clear
    stale = _plan(db, STALE_KEYS, (1, 2, 1, 2))
    # Not every filename key of the index: the source's occurrences (by index, or read
    # whole when the statistics say one source holds most of them) lead to their keys.
    assert "occurrence_keys_lookup" not in stale, stale


def _photos(seed: int) -> dict[str, bytes]:
    return {f"img/{seed}-{n}.png": media_bytes(300, f"{seed}-{n}") for n in range(30)}


def test_a_new_index_is_analyzed_once_and_optimized_by_its_writer(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    index = open_index(db)
    analyzed = index.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'")
    index.close()
    assert analyzed == 1


def test_a_long_lived_writer_keeps_statistics_as_its_index_grows(tmp_path: Path) -> None:
    """The daemon's connection stays open for days while its index grows from empty:
    statistics are refreshed after each drop, not only when the connection closes."""
    from mediasyncd.app import App
    from mediasyncd.ingest.pipeline import Ingester

    drop = write_export(build_corpus(seed=15, n_conversations=40), tmp_path / "drops", "A")
    others = [make_zip(tmp_path / "drops" / f"photos-{n}.zip", _photos(n)) for n in range(4)]
    app = App.load(state_dir=str(tmp_path / "state"))
    try:
        ingester = Ingester(app.index, app.store, app.config, app.state_dir)
        assert ingester.ingest_paths([drop.path, *others]).failures == []
        db = app.state_dir / "index.db"
        shared = _plan(db, SHARED_KEYS, ("c", "size", "c"))
        assert "refs_conversation" in shared and "refs_origin" not in shared, shared
    finally:
        app.close()


# What `PRAGMA optimize` (analysis_limit 1000) left in sqlite_stat1 of the benchmark's
# 50,000-conversation index: sampled, so a key kind looks like 1,001 rows (it has some
# 50,000) and one source like 1,001 occurrences (it has 76,000).
SAMPLED_STATISTICS = [
    ("occurrence_keys", "occurrence_keys_lookup", "136152 1001 2"),
    ("occurrence_keys", "occurrence_keys_occurrence", "148248 3 1"),
    ("occurrence_keys", "occurrence_keys", "163328 3 1 1"),
    ("occurrences", "sqlite_autoindex_occurrences_1", "18096 1001 1"),
    ("occurrences", "occurrences_digest_role", "72072 1 1"),
    ("occurrences", "occurrences_digest", "80190 1"),
    ("refs", "refs_lookup", "167200 1001 2"),
    ("refs", "refs_conversation", "144000 4"),
    ("refs", "refs_kind", "163578 1001"),
    ("refs", "refs_origin", "110260 1001"),
    ("refs", "refs_trace", "144304 1001"),
    ("occurrences", "occurrences_crc", "46992 1 1"),
    ("occurrences", "occurrences_name", "170560 1"),
    ("ref_keys", "ref_keys_lookup", "56388 1001 2"),
    ("ref_keys", "ref_keys", "49416 2 1 1"),
]


def test_a_drops_lookups_keep_their_plan_under_sampled_statistics(tmp_path: Path) -> None:
    """The statements a small drop (a privacy archive) runs at the end of its ingest and
    to find the conversations it touches, as the index modules run them, planned under
    the sampled statistics of a large index: they start from the drop's own rows. Before,
    the touched conversations were found behind a Bloom filter over every reference
    (0.35 s at 50,000 conversations; this test failed). The stale keys started from
    every filename key there (0.66 s); on this small index the planner happened to start
    from the source before the fix too, so that half guards the ordered join only."""
    from mediasyncd.index import conversation_links, objects

    state = tmp_path / "state"
    drop = write_export(build_corpus(seed=14, n_conversations=40), tmp_path / "drops", "A")
    assert run_in_state(state, "ingest", drop.path).returncode == 0
    index = open_index(state / "index.db")
    conn = index._conn  # the raw connection: the test plants statistics, traces SQL
    try:
        conn.execute("DELETE FROM sqlite_stat1")
        conn.executemany("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", SAMPLED_STATISTICS)
        conn.commit()
        conn.execute("ANALYZE sqlite_schema")  # reload the statistics
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        objects.stale_occurrence_keys(index, 1, 999)
        keys = [("file_id", "file-x"), ("filename", "x.png"), ("conversation_dir", "c")]
        conversation_links.conversations_using(index, keys, through_claims=True)
        conn.set_trace_callback(None)
        plans = {
            sql: "\n".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            for sql in statements
            if sql.lstrip().startswith("SELECT DISTINCT")
        }
    finally:
        index.close()
    stale = next(plan for sql, plan in plans.items() if "s.source_id" in sql)
    assert "occurrence_keys_lookup (key_kind=?)" not in stale, stale
    using = next(plan for sql, plan in plans.items() if "r.conversation_id" in sql)
    assert "BLOOM FILTER" not in using and "SCAN r " not in using + " ", using
