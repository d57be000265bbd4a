"""What an S3 watch has seen: every key it took, in the batch that took it.

A small SQLite file of its own, not a table of the index; its SQL lives here with every
other statement (docs/architecture.md, "Where each concern lives").

Kept in the state dir (`<state>/s3-watch/<bucket>-<hash of the URL>.sqlite`), beside the
settle state of the drop folders, not in the index: like a drop folder, an S3 prefix is
watched by the machine whose config names it, the index schema stays the same on every
engine, and the file is small (one row per key, ~100 bytes) and written only when new
keys are found.

It is a write-ahead record. The keys of a new batch and the batch itself (state `open`)
are committed (synchronous FULL) before anything is fetched; the batch is ingested as
one source named after it, and only then marked `done`. A crash, a shutdown or a bucket
that stops answering leaves the batch open, and the next poll ingests the same batch
again under the same source name (an ingest of a source is idempotent) before it looks
for new keys. So a key is taken once, whatever happens: listed twice, it is new only the
first time; fetched twice (a batch re-run), it lands in the same source.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from mediasyncd.s3.url import S3Url
from mediasyncd.timeutil import utc_now_iso

FOLDER: Final = "s3-watch"
OPEN: Final = "open"
DONE: Final = "done"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created TEXT NOT NULL,
    finished TEXT,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS keys (
    key TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    batch TEXT NOT NULL REFERENCES batches(id)
);
CREATE INDEX IF NOT EXISTS keys_by_batch ON keys (batch);
"""
# SQLite allows 999 parameters in one statement on old builds.
_LOOKUP: Final = 500


@dataclass(frozen=True)
class ListedObject:
    """One object as list-objects-v2 gave it."""

    key: str
    size: int
    etag: str
    last_modified: datetime


class WatchState:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def for_url(cls, state_dir: Path, url: S3Url) -> WatchState:
        digest = hashlib.sha256(str(url).encode()).hexdigest()[:12]
        return cls(state_dir / FOLDER / f"{url.bucket}-{digest}.sqlite")

    def close(self) -> None:
        self._db.close()

    def unseen(self, listed: Sequence[ListedObject]) -> list[ListedObject]:
        """The objects whose keys no batch has taken yet, in the order given."""
        seen: set[str] = set()
        for start in range(0, len(listed), _LOOKUP):
            chunk = [o.key for o in listed[start : start + _LOOKUP]]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key FROM keys WHERE key IN ({marks})", chunk)
            seen.update(str(row[0]) for row in rows)
        return [o for o in listed if o.key not in seen]

    def add_batch(self, found: Iterable[ListedObject]) -> str:
        """Record a new open batch holding these keys; returns its id (unique across
        machines and resets: a time and a random part)."""
        batch = f"{utc_now_iso().replace(':', '').replace('-', '')}-{secrets.token_hex(3)}"
        with self._transaction():
            self._db.execute(
                "INSERT INTO batches (id, state, created) VALUES (?, ?, ?)",
                (batch, OPEN, utc_now_iso()),
            )
            self._db.executemany(
                """INSERT INTO keys (key, size, etag, last_modified, batch)
                   VALUES (?, ?, ?, ?, ?)""",
                [(o.key, o.size, o.etag, o.last_modified.isoformat(), batch) for o in found],
            )
        return batch

    def open_batches(self) -> list[str]:
        rows = self._db.execute("SELECT id FROM batches WHERE state = ? ORDER BY id", (OPEN,))
        return [str(row[0]) for row in rows]

    def batch_objects(self, batch: str) -> list[ListedObject]:
        rows = self._db.execute(
            "SELECT key, size, etag, last_modified FROM keys WHERE batch = ? ORDER BY key",
            (batch,),
        )
        return [
            ListedObject(str(k), int(s), str(e), datetime.fromisoformat(str(m)))
            for k, s, e, m in rows
        ]

    def close_batch(self, batch: str, outcome: str) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE batches SET state = ?, finished = ?, outcome = ? WHERE id = ?",
                (DONE, utc_now_iso(), outcome, batch),
            )

    def key_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM keys").fetchone()[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
