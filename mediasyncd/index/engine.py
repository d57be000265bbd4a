"""The index behind one interface: what every engine (SQLite today) must provide.

Code outside `mediasyncd.index` never writes SQL: it calls the named functions of the
query modules beside this one (`sources`, `objects`, `conversations`, `jobs`, ...), which
take an `Index` and return records. Those functions write their SQL once, in the subset
that SQLite and PostgreSQL 15 both accept:

- `?` placeholders (an engine whose driver wants `%s` translates them; no statement has a
  `?` or `%` inside a string literal);
- `INSERT ... ON CONFLICT (...) DO NOTHING | DO UPDATE`, `RETURNING id`, never
  `INSERT OR IGNORE/REPLACE`, `lastrowid` or `rowid`;
- `IS NOT DISTINCT FROM` for a comparison that must match NULL, `CASE` instead of the
  two-argument `MAX()`, and `ASC NULLS FIRST` where a nullable column orders what a user
  reads (SQLite's default, PostgreSQL's opposite).

What cannot be written once is asked of the engine's `Dialect`: reading a member of a
JSON text column, and the two query-plan hints the SQLite engine needs for speed (a
`+column` that keeps SQLite off an index, and `CROSS JOIN` to fix a join order). Schema
and migrations belong to each engine (`mediasyncd.index.schema` for SQLite). See
docs/architecture.md, "The index".
"""

from __future__ import annotations

import abc
import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

# What an engine raises when the index cannot be used right now (locked past the busy
# timeout, a full disk): the daemon retries the job, the CLI says so in one line. Each
# engine adds its driver's class when it is imported.
OPERATIONAL_ERRORS: tuple[type[Exception], ...] = ()


class Cursor(Protocol):
    """The part of a DB-API cursor the query modules use."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Dialect(abc.ABC):
    """The few pieces of SQL that differ between engines."""

    name: str = "abstract"
    # The join that makes the engine join tables in the order written (SQLite: CROSS
    # JOIN, which its planner never reorders; an engine without the need: JOIN).
    ordered_join: str = "JOIN"
    # What ends a SELECT whose rows a read-then-write step must hold until it commits
    # (PostgreSQL: FOR UPDATE). SQLite needs none: its write transaction holds the whole
    # database from BEGIN IMMEDIATE.
    for_update: str = ""

    @abc.abstractmethod
    def json_text(self, column: str, key: str) -> str:
        """SQL for the text member `key` of the JSON object in `column` (NULL if absent)."""

    @abc.abstractmethod
    def json_real(self, column: str, key: str) -> str:
        """SQL for the numeric member `key` of the JSON object in `column`."""

    @abc.abstractmethod
    def json_integer(self, column: str, key: str) -> str:
        """SQL for the integer member `key` of the JSON object in `column`."""

    def no_index(self, expression: str) -> str:
        """`expression`, marked so the planner does not use an index for it."""
        return expression


class Index(abc.ABC):
    """One connection to the index. Pass it in; never open one at import time.

    `write()` is one write transaction (nested calls are savepoints of it), `read()` a
    consistent snapshot for a report of several queries.
    """

    dialect: Dialect
    # The database file of a local engine (SQLite), else None: `status` finds the
    # daemon's progress file beside it.
    path: Path | None = None
    # Whether processes on other machines share this index (PostgreSQL): then the locks
    # that keep writers apart are the database's (mediasyncd.coordination), jobs are
    # claimed with leases (mediasyncd.index.leases) and the rematch locks its subjects.
    shared: bool = False

    # -- statements ------------------------------------------------------------------

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement written with `?` placeholders."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def inserted_id(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an `INSERT ... RETURNING id` and return the id."""
        rows = self.execute(sql, params).fetchall()
        return int(rows[0][0])

    # -- transactions ----------------------------------------------------------------

    @abc.abstractmethod
    def in_transaction(self) -> bool:
        """Whether a transaction is open (a method, so the type checker does not carry a
        narrowed value past a statement)."""

    @abc.abstractmethod
    def _begin_write(self) -> None:
        """Start a transaction that holds the write lock from its first statement."""

    @abc.abstractmethod
    def _begin_read(self) -> None:
        """Start a transaction that sees one snapshot."""

    def _commit(self) -> None:
        self.execute("COMMIT")

    def _rollback(self) -> None:
        self.execute("ROLLBACK")

    @contextlib.contextmanager
    def write(self) -> Iterator[Index]:
        """One write transaction; nested calls become savepoints of the outer one."""
        if self.in_transaction():
            with self._savepoint():
                yield self
            return
        self._begin_write()
        try:
            yield self
        except BaseException:
            if self.in_transaction():
                self._rollback()
            raise
        else:
            self._commit()

    @contextlib.contextmanager
    def read(self) -> Iterator[Index]:
        """A consistent snapshot for multi-query reports."""
        if self.in_transaction():
            yield self
            return
        self._begin_read()
        try:
            yield self
        finally:
            if self.in_transaction():
                self._rollback()

    _savepoints = itertools.count(1)

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        name = f"mediasyncd_{next(self._savepoints)}"
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.execute(f"RELEASE SAVEPOINT {name}")

    # -- what only some engines need --------------------------------------------------

    @contextlib.contextmanager
    def key_table(self, name: str, keys: Sequence[tuple[str, str]]) -> Iterator[str]:
        """A temporary table `name` (key_kind, key) holding `keys` for one query."""
        with self.row_table(name, ("key_kind", "key"), keys) as table:
            yield table

    @contextlib.contextmanager
    def row_table(
        self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> Iterator[str]:
        """A temporary table `name` of text `columns` holding `rows` for one query."""
        self.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} ({', '.join(c + ' TEXT' for c in columns)})"
        )
        self.execute(f"DELETE FROM {name}")
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
        # Statistics of its size: without them SQLite takes a temporary table for large
        # and builds a Bloom filter over the other side of the join, i.e. reads all of
        # refs (165 ms cold at 50,000 conversations for a privacy archive's 36 keys;
        # 0.3 ms with them). PostgreSQL's autovacuum never analyzes temporary tables.
        self.execute(f"ANALYZE {name}")
        try:
            yield name
        finally:
            self.execute(f"DELETE FROM {name}")

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """Fold a write-ahead log back into the database: (busy, log frames, done).
        An engine without one has nothing to do."""
        return 0, 0, 0

    def optimize(self) -> None:  # noqa: B027 - an engine that plans without statistics
        """Refresh the planner's statistics of the tables that changed a lot (a writer
        calls it after each drop: a long-lived daemon grows its index from empty)."""

    @abc.abstractmethod
    def close(self) -> None: ...


def marks(values: Sequence[Any]) -> str:
    """`?, ?, ?` for an `IN (...)` of these values."""
    return ", ".join("?" for _ in values)
