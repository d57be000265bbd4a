"""PostgreSQL advisory locks: what keeps writers on many machines apart.

A lock is a pair of 32-bit numbers (class, id), both kept non-negative so `pg_locks`
shows them as written. PostgreSQL releases every lock of a session when its connection
ends, so a worker killed with SIGKILL never leaves one held, like the flock(2) locks of
the SQLite setup.

- Session-level (held across transactions until released): the ingest lock (ingests
  share it, gc takes it alone), a running daemon's presence (shared; `reindex` takes it
  alone, without waiting), one source's writer (an ingest spans many transactions: its
  batches, the interpretation, the rematch).
- Transaction-level (released at COMMIT or ROLLBACK, so never leaked by an exception):
  the schema migration, and the rematch's subject locks, which must stay held until the
  links they guard are committed, so that the next holder reads them.
"""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Iterable
from typing import Final

from mediasyncd.index.engine import Index

# Classes of keys: one for the few fixed locks, one per kind of key.
_BASE: Final = 0x6D730000
FIXED: Final = _BASE
SOURCE: Final = _BASE + 1
SUBJECT: Final = _BASE + 2

MIGRATION: Final = (FIXED, 1)
INGEST: Final = (FIXED, 2)
DAEMON: Final = (FIXED, 3)
# Held shared by an incremental rematch of a subject kind, alone by a full one.
FULL_REMATCH: Final = {"conversation": (FIXED, 10), "trace": (FIXED, 11)}

# Subject ids are hashed into this many locks per subject kind. Few enough that a
# transaction rematching thousands of conversations holds at most this many (PostgreSQL's
# lock table has max_locks_per_transaction x max_connections slots, 6,400 by default),
# many enough that two workers' unrelated conversations seldom share one.
SUBJECT_BUCKETS: Final = 1024

Key = tuple[int, int]


def _hash32(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogateescape")) & 0x7FFFFFFF


def source_key(path: str) -> Key:
    """The lock of one source (a collision only makes two sources wait for each other)."""
    return (SOURCE, _hash32(path))


def subject_keys(subject: str, ids: Iterable[str]) -> list[Key]:
    """The locks of these subjects, each once, in the order every worker takes them (so two
    rematches never wait for each other in a cycle)."""
    offset = sorted(FULL_REMATCH).index(subject) * SUBJECT_BUCKETS
    buckets = {offset + _hash32(value) % SUBJECT_BUCKETS for value in ids}
    return [(SUBJECT, bucket) for bucket in sorted(buckets)]


def _function(shared: bool, *, transaction: bool = False, attempt: bool = False) -> str:
    name = "pg_try_advisory" if attempt else "pg_advisory"
    name += "_xact" if transaction else ""
    name += "_lock"
    return name + ("_shared" if shared else "")


def try_lock(index: Index, key: Key, *, shared: bool = False) -> bool:
    """Take a session-level lock if it is free; whether it was taken."""
    return bool(index.scalar(f"SELECT {_function(shared, attempt=True)}(?, ?)", key))


def unlock(index: Index, key: Key, *, shared: bool = False) -> None:
    name = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
    index.scalar(f"SELECT {name}(?, ?)", key)


def lock_for_transaction(index: Index, key: Key, *, shared: bool = False) -> None:
    """Wait for a lock held until this transaction ends."""
    index.execute(f"SELECT {_function(shared, transaction=True)}(?, ?)", key)


def lock_all_for_transaction(index: Index, keys: list[Key]) -> None:
    """Wait for each of `keys`, in the order given, until this transaction ends."""
    if keys:
        index.execute(
            """SELECT count(pg_advisory_xact_lock(k.c, k.i))
               FROM unnest(?::int[], ?::int[]) WITH ORDINALITY AS k(c, i, n)""",
            ([c for c, _ in keys], [i for _, i in keys]),
        )


def session_name() -> str:
    """The application_name of this process's connections: who holds a lock."""
    return f"mediasyncd {socket.gethostname()} {os.getpid()}"


def holder_pid(index: Index, key: Key) -> int | None:
    """The pid of a mediasyncd process on this machine holding `key`, if one does."""
    rows = index.execute(
        """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
           AND l.classid = ?::bigint::oid AND l.objid = ?::bigint::oid""",
        key,
    ).fetchall()
    for (name,) in rows:
        parts = str(name or "").split(" ")
        if len(parts) == 3 and parts[0] == "mediasyncd" and parts[1] == socket.gethostname():
            return int(parts[2]) if parts[2].isdigit() else None
    return None


def lock_subjects(index: Index, subject: str, ids: Iterable[str] | None) -> None:
    """In a write transaction that recomputes the links of `ids` (None: every subject of
    the kind), wait until no other worker recomputes any of them, and keep them until
    this transaction ends. A full rematch excludes every incremental one of its kind.

    Only a shared index needs it: SQLite's write transaction already holds the database.
    Why locks and not SERIALIZABLE transactions: docs/architecture.md, "Many workers".
    """
    if not index.shared:
        return
    whole = FULL_REMATCH[subject]
    if ids is None:
        lock_for_transaction(index, whole)
        return
    lock_for_transaction(index, whole, shared=True)
    lock_all_for_transaction(index, subject_keys(subject, ids))
