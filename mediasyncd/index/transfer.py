"""`migrate_index`: copy the local SQLite index into a PostgreSQL one, resumably, verified.

The local index is opened read-only and never changed (nor upgraded: an index that needs
a migration is refused until a command of this version has opened it). The SQLite
locks of the state dir are held for the whole copy, so no daemon or ingest changes it
meanwhile.

Tables are copied in the order their foreign keys need, each in batches ordered by its
primary key. Each batch goes in with one PostgreSQL transaction together with the note of
how far the table got (`migrate_progress`), so a run killed at any point resumes after the
last batch it committed. A table is verified once copied: its row count and an
order-independent checksum of its rows, read back from both sides, must agree. A target
that holds rows this migration did not write is refused.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mediasyncd import faults
from mediasyncd.errors import MediasyncdError
from mediasyncd.index import Index
from mediasyncd.index.postgres import PostgresIndex, open_postgres
from mediasyncd.index.schema import MIGRATIONS
from mediasyncd.index.sqlite import SqliteIndex, _open_readonly

# Parents before children (foreign keys).
TABLES: Final = (
    "sources",
    "blobs",
    "occurrences",
    "member_failures",
    "occurrence_keys",
    "file_cache",
    "conversations",
    "messages",
    "refs",
    "ref_keys",
    "name_aliases",
    "traces",
    "dump_images",
    "matches",
    "resolved_refs",
    "documents",
    "document_parts",
    "message_text_legacy",
    "superseded_documents",
    "jobs",
    "daemon_state",
    "export_expected",
)
BATCH: Final = 5000
# Tables whose `id` is an identity column: it continues after the copied ids.
IDENTITY_TABLES: Final = ("sources", "occurrences", "member_failures", "refs", "matches", "jobs")
_PROGRESS: Final = """CREATE TABLE IF NOT EXISTS migrate_progress (
    name TEXT COLLATE "C" PRIMARY KEY,
    last_key TEXT COLLATE "C",
    copied BIGINT NOT NULL DEFAULT 0,
    verified BOOLEAN NOT NULL DEFAULT false
)"""
_SOURCE: Final = "_source"


class MigrateError(MediasyncdError):
    """The copy cannot be made or did not verify (the message says what to do)."""

    exit_code = 1


@dataclass
class TableReport:
    name: str
    rows: int
    checksum: str
    resumed_after: int = 0


@dataclass
class IndexMigration:
    target: str
    tables: list[TableReport] = field(default_factory=list)
    already_done: bool = False

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "already_done": self.already_done,
            "rows": self.rows,
            "tables": {
                t.name: {"rows": t.rows, "checksum": t.checksum, "resumed_after": t.resumed_after}
                for t in self.tables
            },
        }


def migrate_index(
    index_path: Path,
    url: str,
    *,
    busy_timeout_ms: int = 60_000,
    on_table: Callable[[str, int], None] | None = None,
) -> IndexMigration:
    """Copy the SQLite index at `index_path` into the PostgreSQL database at `url`."""
    if not index_path.is_file():
        raise MigrateError(f"{index_path}: there is no local index to copy")
    # No writer runs (the caller holds the state dir's locks): without a write-ahead log
    # the file is read as immutable, so not even a -shm file is made beside it.
    wal, shm = (index_path.with_name(index_path.name + s) for s in ("-wal", "-shm"))
    immutable = not (wal.exists() and shm.exists())
    source = _open_readonly(index_path, busy_timeout_ms=busy_timeout_ms, immutable=immutable)
    target = open_postgres(url, busy_timeout_ms=busy_timeout_ms)
    try:
        if MIGRATIONS.pending(source.conn):
            raise MigrateError(
                f"{index_path}: the index is from an older mediasyncd; run any command of "
                "this version on it once (`mediasyncd status`), then migrate"
            )
        _claim_target(target, str(index_path))
        report = IndexMigration(url, already_done=_all_verified(target))
        with source.read():
            for table in TABLES:
                report.tables.append(_copy_table(source, target, table))
                if on_table is not None:
                    on_table(table, report.tables[-1].rows)
        _finish(target)
        return report
    finally:
        source.close()
        target.close()


def _claim_target(target: PostgresIndex, source: str) -> None:
    """Note which index this database is filled from; refuse a database that holds rows
    no migrate wrote, or one a migrate of another index is filling."""
    with target.write():
        target.execute(_PROGRESS)
        recorded = target.scalar("SELECT last_key FROM migrate_progress WHERE name = ?", (_SOURCE,))
        if recorded is None:
            filled = [t for t in TABLES if target.scalar(f"SELECT EXISTS (SELECT 1 FROM {t})")]
            if filled:
                raise MigrateError(
                    f"{target.url} already holds an index (rows in {', '.join(filled[:3])}); "
                    "migrate into an empty database"
                )
            target.execute(
                "INSERT INTO migrate_progress (name, last_key) VALUES (?, ?)", (_SOURCE, source)
            )
        elif recorded != source:
            raise MigrateError(
                f"{target.url} is being filled from another index ({recorded}); migrate into "
                "an empty database"
            )


def _all_verified(target: PostgresIndex) -> bool:
    done = target.scalar(
        "SELECT COUNT(*) FROM migrate_progress WHERE verified AND name != ?", (_SOURCE,)
    )
    return int(done or 0) == len(TABLES)


def _columns(source: SqliteIndex, target: PostgresIndex, table: str) -> tuple[list[str], list[str]]:
    """(columns both sides have, in the local order; the primary key's columns)."""
    info = source.conn.execute(f"PRAGMA table_info({table})").fetchall()
    local = [str(row[1]) for row in info]
    key = [str(row[1]) for row in sorted(info, key=lambda r: r[5]) if row[5]]
    remote = {
        str(row[0])
        for row in target.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
    }
    return [c for c in local if c in remote], key


def _copy_table(source: SqliteIndex, target: PostgresIndex, table: str) -> TableReport:
    columns, key = _columns(source, target, table)
    row = target.execute(
        "SELECT last_key, copied, verified FROM migrate_progress WHERE name = ?", (table,)
    ).fetchone()
    last = json.loads(row[0]) if row and row[0] else None
    copied = int(row[1]) if row else 0
    if row and row[2]:
        return TableReport(table, copied, _checksum(_rows(target, table, columns)), copied)
    resumed_after = copied
    extra = _extra_values(table)
    for batch in _batches(source, table, columns, key, last):
        with target.write():
            with target.conn.cursor() as cursor:
                names = ", ".join([*columns, *extra])
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for values in batch:
                        copy.write_row([*values, *extra.values()])
            copied += len(batch)
            last_key = [batch[-1][columns.index(k)] for k in key]
            target.execute(
                """INSERT INTO migrate_progress (name, last_key, copied) VALUES (?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET last_key = excluded.last_key,
                       copied = excluded.copied""",
                (table, json.dumps(last_key), copied),
            )
        faults.point("migrate.after_batch")
    return _verify(source, target, table, columns, resumed_after)


def _extra_values(table: str) -> dict[str, Any]:
    """Columns only the shared index has: a job's drop is on this machine."""
    return {"host": socket.gethostname()} if table == "jobs" else {}


def _batches(
    source: SqliteIndex,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    last: list[Any] | None,
) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows after `last` (a primary key), in key order, BATCH at a time."""
    names = ", ".join(columns)
    order = ", ".join(key)
    row_value = f"({order})"
    marks = f"({', '.join('?' for _ in key)})"
    while True:
        where = f"WHERE {row_value} > {marks}" if last is not None else ""
        rows = source.conn.execute(
            f"SELECT {names} FROM {table} {where} ORDER BY {order} LIMIT {BATCH}",
            tuple(last or ()),
        ).fetchall()
        if not rows:
            return
        yield [tuple(r) for r in rows]
        last = [rows[-1][columns.index(k)] for k in key]


def _rows(index: Index, table: str, columns: Sequence[str]) -> Iterator[Any]:
    yield from index.execute(f"SELECT {', '.join(columns)} FROM {table}")


def _checksum(rows: Iterator[Any]) -> str:
    """Row count and the sum (mod 2^64) of each row's hash: independent of the order
    rows come in. Text is compared as the shared index stores it (a NUL as U+FFFD)."""
    total = count = 0
    for row in rows:
        text = json.dumps([_normal(v) for v in row], ensure_ascii=False)
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        total = (total + struct.unpack("<Q", digest)[0]) % (1 << 64)
        count += 1
    return f"{count}:{total:016x}"


def _normal(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def _verify(
    source: SqliteIndex,
    target: PostgresIndex,
    table: str,
    columns: Sequence[str],
    resumed_after: int,
) -> TableReport:
    local = _checksum(_rows(source, table, columns))
    remote = _checksum(_rows(target, table, columns))
    if local != remote:
        raise MigrateError(
            f"{table}: the copy does not match the local index (rows:checksum local {local}, "
            f"copied {remote}); the local index changed since the copy began, or the "
            "database was written meanwhile: empty the database and migrate again"
        )
    with target.write():
        target.execute(
            """INSERT INTO migrate_progress (name, verified) VALUES (?, true)
               ON CONFLICT (name) DO UPDATE SET verified = true""",
            (table,),
        )
    return TableReport(table, int(local.split(":")[0]), local, resumed_after)


def _finish(target: PostgresIndex) -> None:
    """Identity columns continue after the copied ids; the planner learns the tables."""
    with target.write():
        for table in IDENTITY_TABLES:
            sequence = target.scalar("SELECT pg_get_serial_sequence(?, 'id')", (table,))
            if sequence:
                target.execute(
                    f"SELECT setval(?, COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)",
                    (sequence,),
                )
    target.execute("ANALYZE")
