"""The SQLite engine: `index.db` in WAL mode, a busy timeout, migrations, transactions.

SQLite allows one writer and many readers in WAL mode. Writes start with
`BEGIN IMMEDIATE`: a deferred transaction that later upgrades to a write ignores the busy
timeout and fails at once with "database is locked" when the daemon is writing.
The connection runs in autocommit mode (`isolation_level=None`) so that Python's sqlite3
never opens a transaction behind our back; nested writes are savepoints.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mediasyncd.errors import IndexDatabaseError
from mediasyncd.fs.guard import protect_files
from mediasyncd.index import engine
from mediasyncd.index.engine import Cursor, Dialect, Index
from mediasyncd.index.schema import MIGRATIONS

if TYPE_CHECKING:
    import sqlite_utils

# A locked or full index: the daemon retries the job, the CLI says so in one line.
engine.OPERATIONAL_ERRORS += (sqlite3.OperationalError,)
INDEX_NAME: Final = "index.db"


class SqliteDialect(Dialect):
    name = "sqlite"
    # SQLite never reorders the tables of a CROSS JOIN: the plan hint that keeps a
    # query starting from its few rows.
    ordered_join = "CROSS JOIN"

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def json_real(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def json_integer(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def no_index(self, expression: str) -> str:
        # A unary + makes the term unusable for an index: SQLite then picks the index of
        # a more selective term (see the queries that use it).
        return f"+{expression}"


SQLITE: Final = SqliteDialect()


class SqliteIndex(Index):
    """A handle on `index.db` (or an in-memory index)."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection, path: Path | None, *, writer: bool = False):
        self._conn = conn
        self._db: sqlite_utils.Database | None = None
        self.path = path
        # A connection that may write keeps the planner's statistics fresh when it closes.
        self._writer = writer

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils' view of the connection, made on first use (migrations): importing
        sqlite-utils costs about 80 ms that a read-only command like `status` need not
        pay."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self._conn, execute_plugins=False)
        return self._db

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def _begin_write(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def _begin_read(self) -> None:
        self._conn.execute("BEGIN")

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        if mode not in {"PASSIVE", "FULL", "RESTART", "TRUNCATE"}:
            raise ValueError(mode)
        row = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def optimize(self) -> None:
        if self._writer:
            refresh_statistics(self._conn)

    def close(self) -> None:
        if self._writer:
            refresh_statistics(self._conn)
        self._conn.close()


def _connect(target: str, *, busy_timeout_ms: int, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        target,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        uri=uri,
        check_same_thread=False,
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


# Pages the write-ahead log may hold before a commit folds it into the database (SQLite's
# default is 1,000, 4 MB). An ingest rewrites the same index pages batch after batch; a
# larger log writes each into the database once per 40 MB instead of once per 4 MB:
# 5 % off the first ingest of 10,000 conversations, 4 % off next month's. Closing the
# last connection still folds the log in and removes it.
WAL_CHECKPOINT_PAGES: Final = 10_000


def open_index(
    path: Path | None,
    *,
    synchronous: str = "FULL",
    busy_timeout_ms: int = 60_000,
    migrate: bool = True,
) -> SqliteIndex:
    """Open (creating if needed) and migrate the index; `path=None` gives an in-memory one."""
    if synchronous not in {"FULL", "NORMAL"}:
        raise ValueError(synchronous)
    try:
        if path is None:
            conn = _connect(":memory:", busy_timeout_ms=busy_timeout_ms)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = _connect(str(path), busy_timeout_ms=busy_timeout_ms)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise IndexDatabaseError(f"{path}: cannot switch the index to WAL (got {mode})")
        # FULL: an ingest acknowledged to the user survives power loss
        # (docs/reliability.md, scenario 1).
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        index = SqliteIndex(conn, path, writer=True)
        if migrate and MIGRATIONS.pending(conn):
            MIGRATIONS.apply(index.db)
            conn.execute("ANALYZE")
        elif migrate and not _analyzed(conn):
            conn.execute("ANALYZE")
        if path is not None:
            _protect(path)
    except sqlite3.DatabaseError as exc:
        raise IndexDatabaseError(f"{path}: cannot open the index: {exc}") from exc
    return index


def _analyzed(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'").fetchone()
    return row is not None


# Rows ANALYZE reads per index when a writer closes: enough for the planner to tell a
# selective index from one every row matches, and a bounded cost at any size.
ANALYSIS_LIMIT: Final = 1000


def refresh_statistics(conn: sqlite3.Connection) -> None:
    """`PRAGMA optimize` (SQLite's advice for a connection about to close): it analyzes
    the tables whose size changed a lot since their statistics were taken.

    Without statistics SQLite planned `conversation_id = ? AND origin = 'conversation'`
    with `refs_origin` (every row matches: a scan of all references per continued
    conversation) and the stale keys of a source from every key of a kind. A writer
    that cannot get the lock at once (another one is writing) leaves it to the next."""
    if conn.in_transaction:
        return
    timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
        conn.execute("PRAGMA optimize")
    except sqlite3.Error:
        pass
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")


def _protect(path: Path) -> None:
    """No drop path may open these files: closing a descriptor of them drops the POSIX
    locks SQLite holds in this process (see fsguard). The -wal and -shm exist once a
    connection in WAL mode has read."""
    protect_files(path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


def _open_readonly(
    path: Path, *, busy_timeout_ms: int = 60_000, immutable: bool = False
) -> SqliteIndex:
    """A read-only handle for reports: never migrates, never writes.

    `immutable` reads the file with no locks and no `-wal`/`-shm` files: for an index
    nobody has open for writing (no `-wal` file) that this user must not or cannot add
    files beside (a read-only mount, another user's state dir).
    """
    flags = "immutable=1" if immutable else "mode=ro"
    try:
        conn = _connect(f"file:{path}?{flags}", busy_timeout_ms=busy_timeout_ms, uri=True)
    except sqlite3.DatabaseError as exc:
        raise IndexDatabaseError(f"{path}: cannot open the index: {exc}") from exc
    return SqliteIndex(conn, path)


def open_for_reading(path: Path, *, busy_timeout_ms: int = 60_000) -> SqliteIndex:
    """The index for a command that only reads (status, matches, unresolved, export).

    It creates nothing in the state dir, so `sudo mediasyncd status` leaves no root-owned
    `-wal`/`-shm` file that would lock the service's own user out. With a writer at work
    (its `-wal` and `-shm` exist) it reads in WAL mode beside it; with none, and in a
    folder it may not add files to, it reads the file as immutable: a writer that starts
    meanwhile writes to a new `-wal`, never to the file read. The owner of an index that
    needs migrating opens it for writing once, so the upgrade happens.
    """
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    owner = path.stat().st_uid == os.geteuid()
    beside_a_writer = wal.exists() and shm.exists()
    may_add_files = owner and os.access(path.parent, os.W_OK)
    immutable = not (beside_a_writer or may_add_files)
    try:
        index = _open_readonly(path, busy_timeout_ms=busy_timeout_ms, immutable=immutable)
        pending = MIGRATIONS.pending(index.conn)
    except (IndexDatabaseError, sqlite3.OperationalError):
        if immutable:
            raise
        # A read-only mount: the WAL files cannot be made; the file itself can be read.
        index = _open_readonly(path, busy_timeout_ms=busy_timeout_ms, immutable=True)
        pending = MIGRATIONS.pending(index.conn)
    if pending and may_add_files:
        index.close()
        return open_index(path, busy_timeout_ms=busy_timeout_ms)
    if pending:
        index.close()
        raise IndexDatabaseError(
            f"{path}: the index is from an older mediasyncd and needs upgrading, which only "
            "its owner can do: restart the daemon, or run any writing command as its user"
        )
    return index


def move_aside(path: Path) -> Path | None:
    """Rename the index (and its -wal and -shm) to `<name>.before-reindex-<time>`, so a
    rebuild starts from an empty one; the old one is kept, never deleted."""
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.before-reindex-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(target.with_name(target.name + suffix))
    return target
