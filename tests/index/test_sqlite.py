"""Opening the index: WAL, busy timeout, migrations, write and read transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasyncd.errors import IndexDatabaseError
from mediasyncd.index import Index, open_for_reading, open_index
from mediasyncd.index.schema import MIGRATIONS
from mediasyncd.index.sqlite import WAL_CHECKPOINT_PAGES

EXPECTED_TABLES = {
    "blobs",
    "sources",
    "occurrences",
    "member_failures",
    "occurrence_keys",
    "file_cache",
    "conversations",
    "messages",
    "refs",
    "traces",
    "dump_images",
    "matches",
    "documents",
    "jobs",
    "daemon_state",
}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = open_index(tmp_path / "index.db")
    yield idx
    idx.close()


def test_index_is_wal_with_busy_timeout_and_full_sync(index: Index) -> None:
    """The index runs in WAL mode with a busy timeout and synchronous=FULL by default."""
    assert index.scalar("PRAGMA journal_mode") == "wal"
    assert index.scalar("PRAGMA busy_timeout") == 60_000
    assert index.scalar("PRAGMA synchronous") == 2  # FULL
    assert index.scalar("PRAGMA foreign_keys") == 1


def test_synchronous_normal_and_timeout_are_configurable(tmp_path: Path) -> None:
    """The [index] settings reach the connection."""
    idx = open_index(tmp_path / "i.db", synchronous="NORMAL", busy_timeout_ms=1234)
    try:
        assert idx.scalar("PRAGMA synchronous") == 1
        assert idx.scalar("PRAGMA busy_timeout") == 1234
    finally:
        idx.close()
    with pytest.raises(ValueError):
        open_index(tmp_path / "j.db", synchronous="OFF")


def test_schema_has_every_table_and_migrations_are_recorded(index: Index) -> None:
    """Every table exists and each applied migration is recorded by name."""
    tables = set(index.db.table_names())
    assert tables >= EXPECTED_TABLES
    applied = [
        row[0]
        for row in index.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'mediasyncd'"
        )
    ]
    assert applied[0] == "0001_initial"
    assert applied == [m.name for m in MIGRATIONS._migrations]


def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    """Opening an existing index keeps its rows and its migration records."""
    first = open_index(tmp_path / "index.db")
    first.execute(
        "INSERT INTO blobs (digest, size, mime, kind, sha256, first_seen) "
        "VALUES ('0' || hex(randomblob(15)) || '0', 1, 'x', 'data', NULL, 'now')"
    )
    count = first.scalar("SELECT COUNT(*) FROM _sqlite_migrations")
    first.close()
    second = open_index(tmp_path / "index.db")
    try:
        assert second.scalar("SELECT COUNT(*) FROM blobs") == 1
        assert second.scalar("SELECT COUNT(*) FROM _sqlite_migrations") == count
    finally:
        second.close()


def test_in_memory_index() -> None:
    """path=None gives a migrated in-memory index, for fast library tests."""
    idx = open_index(None)
    try:
        assert set(idx.db.table_names()) >= EXPECTED_TABLES
    finally:
        idx.close()


def test_write_commits_and_rolls_back(index: Index) -> None:
    """write() commits on success and rolls everything back on an exception."""
    with index.write():
        index.execute("INSERT INTO daemon_state (id, pid) VALUES (1, 10)")
    with pytest.raises(RuntimeError), index.write():
        index.execute("UPDATE daemon_state SET pid = 20")
        raise RuntimeError("boom")
    assert index.scalar("SELECT pid FROM daemon_state") == 10
    assert not index.conn.in_transaction


def test_nested_write_is_a_savepoint(index: Index) -> None:
    """A failing nested write() undoes only its own part of the outer transaction."""
    with index.write():
        index.execute("INSERT INTO daemon_state (id, pid) VALUES (1, 10)")
        with pytest.raises(RuntimeError), index.write():
            index.execute("UPDATE daemon_state SET pid = 20")
            raise RuntimeError("inner")
        assert index.scalar("SELECT pid FROM daemon_state") == 10
    assert index.scalar("SELECT pid FROM daemon_state") == 10


def test_write_is_begin_immediate(tmp_path: Path) -> None:
    """write() takes the write lock at BEGIN, so a second writer waits (busy timeout)
    instead of failing at once on a lock upgrade."""
    path = tmp_path / "index.db"
    a = open_index(path)
    b = open_index(path, busy_timeout_ms=50)
    try:
        with a.write(), pytest.raises(sqlite3.OperationalError, match="locked"), b.write():
            pass  # BEGIN IMMEDIATE itself must wait and then give up
    finally:
        a.close()
        b.close()


def test_reader_sees_snapshot_while_writer_commits(tmp_path: Path) -> None:
    """A read() snapshot is stable while another connection commits (WAL readers do not
    block writers and writers do not block readers)."""
    path = tmp_path / "index.db"
    writer = open_index(path, busy_timeout_ms=1000)
    reader = open_for_reading(path, busy_timeout_ms=1000)
    try:
        with reader.read():
            assert reader.scalar("SELECT COUNT(*) FROM jobs") == 0
            with writer.write():
                writer.execute(
                    "INSERT INTO jobs (path, state, enqueued) VALUES ('/d', 'queued', 'now')"
                )
            assert reader.scalar("SELECT COUNT(*) FROM jobs") == 0
        assert reader.scalar("SELECT COUNT(*) FROM jobs") == 1
    finally:
        writer.close()
        reader.close()


def test_reader_during_open_write_transaction(tmp_path: Path) -> None:
    """While a writer holds its transaction open, a CLI reader still reads (no 'database is
    locked')."""
    path = tmp_path / "index.db"
    writer = open_index(path, busy_timeout_ms=100)
    reader = open_for_reading(path, busy_timeout_ms=100)
    try:
        with writer.write():
            writer.execute("INSERT INTO jobs (path, state, enqueued) VALUES ('/d', 'queued', 'x')")
            assert reader.scalar("SELECT COUNT(*) FROM jobs") == 0
    finally:
        writer.close()
        reader.close()


def test_readonly_handle_cannot_write(tmp_path: Path) -> None:
    """open_readonly never writes."""
    open_index(tmp_path / "index.db").close()
    reader = open_for_reading(tmp_path / "index.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.execute("INSERT INTO jobs (path, state, enqueued) VALUES ('/', 'queued', 'x')")
    finally:
        reader.close()


def test_wal_shrinks_after_checkpoint(tmp_path: Path) -> None:
    """A TRUNCATE checkpoint empties the WAL once no reader holds it."""
    path = tmp_path / "index.db"
    index = open_index(path)
    try:
        with index.write():
            for i in range(2000):
                index.execute(
                    "INSERT INTO jobs (path, state, enqueued) VALUES (?, 'queued', 'x')", (str(i),)
                )
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 0
        busy, _log, _done = index.checkpoint("TRUNCATE")
        assert busy == 0
        assert wal.stat().st_size == 0
        with pytest.raises(ValueError):
            index.checkpoint("BOGUS")
    finally:
        index.close()


def test_the_log_grows_past_sqlites_default_and_closing_folds_it_in(tmp_path: Path) -> None:
    """Commits leave up to WAL_CHECKPOINT_PAGES in the write-ahead log (SQLite's default
    of 1,000 pages checkpointed every 4 MB); closing the index folds the log into the
    database and removes it, so a stopped ingest leaves no large log behind."""
    path = tmp_path / "index.db"
    index = open_index(path)
    wal = Path(f"{path}-wal")
    page = index.scalar("PRAGMA page_size")
    try:
        for batch in range(12):
            with index.write():
                index.executemany(
                    "INSERT INTO jobs (path, state, enqueued) VALUES (?, 'queued', ?)",
                    [(f"{batch}-{i}", "x" * 400) for i in range(1000)],
                )
        # Frames in the log now: with SQLite's default it would have been folded in and
        # restarted after 1,000.
        _busy, frames, _done = index.checkpoint("PASSIVE")
        assert 1000 < frames <= WAL_CHECKPOINT_PAGES
        assert wal.stat().st_size > 1000 * page
    finally:
        index.close()
    assert not wal.exists()
    reopened = open_for_reading(path)
    try:
        assert reopened.scalar("SELECT COUNT(*) FROM jobs") == 12_000
    finally:
        reopened.close()


def test_not_a_database_is_an_index_error(tmp_path: Path) -> None:
    """A file that is not SQLite gives IndexDatabaseError naming it, not a traceback."""
    bad = tmp_path / "index.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(IndexDatabaseError, match=r"index\.db"):
        open_index(bad)


def test_index_usable_from_another_thread(index: Index) -> None:
    """The daemon's worker thread may use the connection the main thread opened."""
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(index.scalar("SELECT 1")))
    worker.start()
    worker.join(timeout=10)
    assert seen == [1]


def test_migration_0006_keeps_every_row_and_allows_partial(tmp_path: Path) -> None:
    """An index made before 0006 (states ok/failed/pending only): migrated in place, its
    sources, occurrences and jobs are kept, `partial` is accepted and nothing else is."""
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

    path = tmp_path / "index.db"
    old = Migrations(MIGRATIONS.name)
    for step in MIGRATIONS._migrations:
        old(name=step.name)(step.func)
    db = sqlite_utils.Database(path)
    db.conn.execute("PRAGMA foreign_keys = ON")
    old.apply(db, stop_before="0006_partial_outcomes")
    db.conn.execute("INSERT INTO sources (path, state, first_seen) VALUES ('/d', 'ok', 'now')")
    db.conn.execute(
        "INSERT INTO blobs (digest, size, mime, kind, first_seen) VALUES ('x', 1, 'm', 'data', 'n')"
    )
    db.conn.execute(
        "INSERT INTO occurrences (source_id, member, digest, size) VALUES (1, 'a.png', 'x', 1)"
    )
    db.conn.execute("INSERT INTO jobs (path, state, enqueued) VALUES ('/d', 'done', 'now')")
    db.conn.commit()
    db.conn.close()

    index = open_index(path)
    try:
        with index.write():
            index.execute("UPDATE sources SET state = 'partial'")
            index.execute("UPDATE jobs SET state = 'partial'")
        assert index.scalar("SELECT COUNT(*) FROM occurrences") == 1
        assert index.scalar("SELECT repairs FROM blobs") == 0
        assert index.scalar("PRAGMA integrity_check") == "ok"
        with pytest.raises(sqlite3.IntegrityError), index.write():
            index.execute("UPDATE sources SET state = 'half'")
    finally:
        index.close()
