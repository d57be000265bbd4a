"""The PostgreSQL engine: one index shared by every worker, through psycopg 3.

Installed with the `scale` extra (`pip install 'mediasyncd[scale]'`); chosen by
`[index] url = "postgresql://USER@HOST:PORT/DB"` (mediasyncd.index.location). Credentials
come from libpq (`PGPASSWORD`, `~/.pgpass`, `PGSERVICE`), never from the config file.

- Tables live in the schema `mediasyncd` of the database (`search_path` is set on every
  connection), so `reindex` can move the whole index aside by renaming it, as the SQLite
  engine renames its file. Every text column has the "C" collation: text sorts and
  compares by code point, as SQLite's BINARY does, whatever the database's locale.
- The connection runs in autocommit mode; `write()` opens a READ COMMITTED transaction
  (each statement sees what others committed before it, which the per-subject locks of the
  rematch rely on: docs/architecture.md, "Many workers"), `read()` a REPEATABLE READ one
  (one snapshot for a multi-query report).
- `lock_timeout` is the config's `busy_timeout_ms`: a statement waiting longer for a row
  or advisory lock fails with an operational error, as SQLite's busy timeout does, and
  the daemon retries the job later.
- PostgreSQL text cannot hold NUL characters, which SQLite text can (a conversation may
  carry one): they are written as U+FFFD.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from mediasyncd.errors import ConfigError, IndexDatabaseError
from mediasyncd.index import advisory, engine
from mediasyncd.index.engine import Cursor, Dialect, Index

if TYPE_CHECKING:
    import psycopg

SCHEMA: Final = "mediasyncd"
EXTRA_HINT: Final = "pip install 'mediasyncd[scale]'"


def _driver() -> Any:
    """psycopg, or a ConfigError saying how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(
            f"a PostgreSQL index needs psycopg, which is not installed ({exc}); install "
            f"the scale extra: {EXTRA_HINT}",
            key="index.url",
        ) from None
    return psycopg


class PostgresDialect(Dialect):
    name = "postgresql"
    # PostgreSQL's planner orders joins from its statistics; SQLite's CROSS JOIN hint
    # (with an ON clause, which PostgreSQL's CROSS JOIN does not take) does not apply.
    ordered_join = "JOIN"
    # Row locks for the read-then-write steps several workers may run at once.
    for_update = " FOR UPDATE"

    def json_text(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    def json_real(self, column: str, key: str) -> str:
        return f"((({column})::jsonb ->> '{key}')::double precision)"

    def json_integer(self, column: str, key: str) -> str:
        return f"((({column})::jsonb ->> '{key}')::bigint)"

    # `no_index` stays the identity: PostgreSQL has no per-term hint, and needs none.


POSTGRES: Final = PostgresDialect()


@functools.lru_cache(maxsize=4096)
def _translate(sql: str) -> str:
    """`?` placeholders to psycopg's `%s` (a literal `%` doubled). No statement of the
    query modules has a `?` or `%` inside a string literal (mediasyncd.index.engine)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresIndex(Index):
    """One connection to the shared index."""

    dialect = POSTGRES
    shared = True

    def __init__(self, conn: psycopg.Connection[Any], url: str):
        self._conn = conn
        self.url = url

    @property
    def conn(self) -> psycopg.Connection[Any]:
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        if not params:
            # Without parameters psycopg sends the text as it is (a `%` stays single).
            return self._conn.execute(sql)
        return self._conn.execute(_translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(row) for row in rows]
        if batch:
            with self._conn.cursor() as cursor:
                cursor.executemany(_translate(sql), batch)

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._conn.info.transaction_status != TransactionStatus.IDLE

    def _begin_write(self) -> None:
        self._conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")

    def _begin_read(self) -> None:
        self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")

    def close(self) -> None:
        self._conn.close()


def _text_dumper() -> type[Any]:
    """Python text as psycopg sends it by default (UTF-8, type left for the server to
    infer from the context, as SQLite's loose typing allows), with a NUL written as
    U+FFFD."""
    from psycopg.adapt import Dumper

    class TextDumper(Dumper):
        def dump(self, obj: str) -> bytes:
            if "\x00" in obj:
                obj = obj.replace("\x00", "\ufffd")
            return obj.encode("utf-8")

    return TextDumper


def connect(url: str, *, busy_timeout_ms: int = 60_000) -> psycopg.Connection[Any]:
    """A connection in autocommit mode with the index's session settings."""
    driver = _driver()
    try:
        conn: psycopg.Connection[Any] = driver.connect(
            url, autocommit=True, application_name=advisory.session_name()
        )
    except driver.Error as exc:
        reason = _first_line(exc)
        raise IndexDatabaseError(f"cannot connect to the index at {url}: {reason}") from None
    if conn.info.encoding != "utf-8":
        conn.close()
        raise IndexDatabaseError(f"{url}: the database must use the UTF8 encoding")
    conn.adapters.register_dumper(str, _text_dumper())
    try:
        conn.execute(f"SET search_path TO {SCHEMA}")
        conn.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
    except driver.Error as exc:
        conn.close()
        reason = _first_line(exc)
        raise IndexDatabaseError(f"{url}: cannot set up the connection: {reason}") from None
    return conn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_postgres(
    url: str, *, busy_timeout_ms: int = 60_000, migrate: bool = True
) -> PostgresIndex:
    """Open the shared index, creating and migrating its schema when `migrate`."""
    from mediasyncd.index import pg_schema

    driver = _driver()
    index = PostgresIndex(connect(url, busy_timeout_ms=busy_timeout_ms), url)
    try:
        if migrate:
            pg_schema.migrate(index)
        elif pg_schema.pending(index):
            # A reading command on a database no worker has set up yet, or one made by an
            # older mediasyncd: set it up now, as the SQLite engine's owner does.
            pg_schema.migrate(index)
    except driver.Error as exc:
        index.close()
        raise IndexDatabaseError(f"{url}: cannot set up the index: {_first_line(exc)}") from None
    return index


def _register_errors() -> None:
    """A lost connection, a lock past lock_timeout, a deadlock, a full disk: the daemon
    retries the job, the CLI says so in one line (as for SQLite's OperationalError)."""
    try:
        import psycopg
    except ImportError:
        return
    if psycopg.OperationalError not in engine.OPERATIONAL_ERRORS:
        engine.OPERATIONAL_ERRORS += (psycopg.OperationalError,)


_register_errors()


def set_aside(index: PostgresIndex) -> str | None:
    """Rename the index's schema to `mediasyncd_before_reindex_<time>`, so a rebuild starts
    from an empty one; the old one is kept, never dropped. None: there was none."""
    exists = index.scalar("SELECT 1 FROM pg_namespace WHERE nspname = ?", (SCHEMA,))
    if not exists:
        return None
    # Lower case: PostgreSQL folds an unquoted name to it.
    stamp = f"{SCHEMA}_before_reindex_{time.strftime('%Y%m%d_%H%M%S')}"
    kept, number = stamp, 1
    while index.scalar("SELECT 1 FROM pg_namespace WHERE nspname = ?", (kept,)):
        number += 1
        kept = f"{stamp}_{number}"
    index.execute(f"ALTER SCHEMA {SCHEMA} RENAME TO {kept}")
    return kept
