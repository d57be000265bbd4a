"""Upgrading an index made by every earlier version: each migration state, with rows in
it, opened by today's code, keeps every row and ends with the schema of a new index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mediasyncd.config import Config
from mediasyncd.errors import IndexDatabaseError
from mediasyncd.index import Index, open_index, sources
from mediasyncd.index.schema import MIGRATIONS
from mediasyncd.kinds import all_matchers
from mediasyncd.status import collect_status

DIGEST = "0123456789abcdef0123456789abcdef"
STEPS = [step.name for step in MIGRATIONS._migrations]

# Rows every schema since 0001 accepts, one or more per table (insert order respects the
# foreign keys).
ROWS: list[tuple[str, dict[str, object]]] = [
    ("sources", {"id": 1, "path": "/drops/export.zip", "kind": "chatgpt_export",
                 "fingerprint": "file:1", "state": "ok", "members": 1, "run": 1,
                 "first_seen": "2026-01-01T00:00:00+00:00"}),
    ("blobs", {"digest": DIGEST, "size": 3, "mime": "image/png", "kind": "image",
               "first_seen": "2026-01-01T00:00:00+00:00"}),
    ("occurrences", {"id": 1, "source_id": 1, "member": "file-abc-x.png", "name": "file-abc-x.png",
                     "digest": DIGEST, "role": "media", "size": 3, "crc32": 7, "run": 1}),
    ("occurrence_keys", {"occurrence_id": 1, "key_kind": "file_id", "key": "file-abc",
                         "extra": "name"}),
    ("member_failures", {"id": 1, "source_id": 1, "member": "bad.png", "error": "unsafe name",
                         "recorded": "2026-01-01T00:00:00+00:00"}),
    ("file_cache", {"path": "/drops/x.png", "device": 1, "inode": 2, "size": 3, "mtime_ns": 4,
                    "digest": DIGEST}),
    ("conversations", {"id": "c1", "title": "Hello", "create_time": 1.5, "update_time": 2.5,
                       "content_hash": "h1", "message_count": 1, "source_id": 1,
                       "updated": "2026-01-01T00:00:00+00:00"}),
    ("messages", {"conversation_id": "c1", "id": "m1", "role": "user", "position": 0,
                  "on_current_branch": 1, "text": "look"}),
    ("refs", {"id": 1, "subject": "conversation", "conversation_id": "c1", "message_id": "m1",
              "kind": "image_asset_pointer", "key_kind": "file_id", "key": "file-abc",
              "extra": '{"association": "attachment"}', "origin": "conversation"}),
    ("ref_keys", {"ref_id": 1, "key_kind": "size", "key": "3"}),
    ("name_aliases", {"name": "x.dat", "key_kind": "file_id", "key": "file-abc",
                      "origin": "doc:d"}),
    ("traces", {"id": "t1", "ts": 10.0, "user_id": "u1", "content_hash": "th",
                "source_id": 1}),
    ("dump_images", {"occurrence_id": 1, "user_id": "u1", "ts": 11.0, "time_source": "exif"}),
    ("matches", {"id": 1, "subject": "conversation", "conversation_id": "c1",
                 "message_id": "m1", "digest": DIGEST, "ref_id": 1,
                 "strategy": "asset_pointer", "association": "attachment", "confidence": 1.0}),
    ("resolved_refs", {"ref_id": 1, "conversation_id": "c1"}),
    ("documents", {"digest": DIGEST, "interpreter": "conversations",
                   "interpreted": "2026-01-01T00:00:00+00:00"}),
    ("jobs", {"id": 1, "path": "/drops/export.zip", "state": "done", "attempts": 1,
              "enqueued": "2026-01-01T00:00:00+00:00"}),
    ("daemon_state", {"id": 1, "pid": None, "status": "stopped"}),
]  # fmt: skip


def _build(path: Path, applied: int) -> None:
    """An index with the first `applied` migrations, as that version left it, with rows."""
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

    old = Migrations(MIGRATIONS.name)
    for step in MIGRATIONS._migrations:
        old(name=step.name)(step.func)
    db = sqlite_utils.Database(path)
    db.conn.execute("PRAGMA foreign_keys = ON")
    if applied < len(STEPS):
        old.apply(db, stop_before=STEPS[applied])
    else:
        old.apply(db)
    for table, row in ROWS:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        db.conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))
    db.conn.commit()
    db.conn.close()


def _schema(index: Index) -> list[tuple[str, str, str]]:
    return [
        (str(r[0]), str(r[1]), str(r[2]))
        for r in index.execute(
            "SELECT type, name, sql FROM sqlite_schema "
            "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type, name"
        )
    ]


def _rows(index: Index, table: str, columns: list[str]) -> list[tuple[object, ...]]:
    return [tuple(r) for r in index.execute(f"SELECT {', '.join(columns)} FROM {table}")]


@pytest.mark.parametrize("applied", range(1, len(STEPS)), ids=lambda n: f"after-{STEPS[n - 1]}")
def test_an_index_at_each_earlier_migration_upgrades_with_its_rows(
    tmp_path: Path, applied: int
) -> None:
    """Open an index that stopped after migration N: every later step runs, every row
    is kept as it was (new columns take their defaults), and the schema is exactly that
    of an index made new; the upgraded index then ingests, rematches and reports."""
    path = tmp_path / "index.db"
    _build(path, applied)
    fresh = open_index(tmp_path / "fresh.db")
    index = open_index(path)
    try:
        assert _schema(index) == _schema(fresh)
        recorded = [r[0] for r in index.execute("SELECT name FROM _sqlite_migrations")]
        assert recorded == STEPS
        for table, row in ROWS:
            if table == "messages":
                # 0009: message text leaves `messages`, kept aside until re-read.
                row = {k: v for k, v in row.items() if k != "text"}
            assert _rows(index, table, list(row)) == [tuple(row.values())], table
        assert index.execute("SELECT * FROM message_text_legacy").fetchall() == [
            ("c1", "m1", "look")
        ]
        assert index.scalar("SELECT repairs FROM blobs") == 0
        assert index.scalar("SELECT kind FROM member_failures") == "problem"
        assert index.scalar("PRAGMA integrity_check") == "ok"
        assert index.execute("PRAGMA foreign_key_check").fetchall() == []
        # Usable as any index: a new run of the source, a full rematch, the status counts.
        with index.write():
            run = sources.begin_source_run(
                index,
                "/drops/export.zip",
                is_dir=False,
                size=3,
                mtime_ns=4,
                inode=5,
                device=6,
                fingerprint="file:2",
            )
            sources.finish_source(index, run.id, state="partial", error="1 problem")
        assert run.run == 2
        for matcher in all_matchers(Config()):
            matcher.rematch(index, None)
        status = collect_status(index)
        assert status["sources"]["partial"] == 1
        assert status["conversations"] == 1 and status["messages"] == 1
    finally:
        index.close()
        fresh.close()


def test_an_upgrade_that_fails_leaves_the_old_index_as_it_was(tmp_path: Path) -> None:
    """A migration that cannot finish (here a table holds the name of an index 0006
    makes, after 0006 has already widened two CHECKs in place) rolls back whole: the old
    index keeps its schema and rows, and opening it is an error, not half a schema."""
    path = tmp_path / "index.db"
    _build(path, STEPS.index("0006_partial_outcomes"))
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE export_expected_open (x)")
    conn.commit()
    schema = "SELECT type, name, sql FROM sqlite_schema ORDER BY name"
    before = conn.execute(schema).fetchall()
    conn.close()
    with pytest.raises(IndexDatabaseError, match="export_expected_open"):
        open_index(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute(schema).fetchall() == before
        assert conn.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 1
        applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
        assert "0006_partial_outcomes" not in applied
    finally:
        conn.close()
