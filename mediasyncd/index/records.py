"""Writing rows about sources, blobs and occurrences. No file I/O here, only SQL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mediasyncd.index.connection import Index
from mediasyncd.mediatype import kind_of
from mediasyncd.timeutil import utc_now_iso


@dataclass(frozen=True)
class SourceRow:
    id: int
    path: str
    kind: str | None
    fingerprint: str | None
    state: str
    run: int


def get_source(index: Index, path: str) -> SourceRow | None:
    row = index.execute(
        "SELECT id, path, kind, fingerprint, state, run FROM sources WHERE path = ?", (path,)
    ).fetchone()
    return SourceRow(*row) if row else None


_INT64_MAX = (1 << 63) - 1


def int64(value: int | None) -> int | None:
    """`value` clamped to SQLite's 64-bit integers. Found by fuzzing: a file dated after
    2262 (`touch -d 2300-01-01`; ext4 goes to 2446) has an st_mtime_ns SQLite cannot
    store, and the ingest died on it. Clamped, it still tells versions apart for caching."""
    return None if value is None else max(-_INT64_MAX - 1, min(_INT64_MAX, value))


def begin_source_run(
    index: Index,
    path: str,
    *,
    is_dir: bool,
    size: int | None,
    mtime_ns: int | None,
    inode: int | None,
    device: int | None,
    fingerprint: str,
) -> SourceRow:
    """Create or update the source row, state pending, with a new run number."""
    now = utc_now_iso()
    index.execute(
        """
        INSERT INTO sources (path, is_dir, size, mtime_ns, inode, device, fingerprint, state,
                             run, first_seen)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?)
        ON CONFLICT(path) DO UPDATE SET
            is_dir = excluded.is_dir, size = excluded.size, mtime_ns = excluded.mtime_ns,
            inode = excluded.inode, device = excluded.device,
            fingerprint = excluded.fingerprint, state = 'pending', error = NULL,
            run = sources.run + 1
        """,
        (path, int(is_dir), size, int64(mtime_ns), inode, device, fingerprint, now),
    )
    row = get_source(index, path)
    if row is None:  # pragma: no cover - the upsert above always leaves a row
        raise RuntimeError(path)
    return row


def set_source_kind(index: Index, source_id: int, kind: str) -> None:
    index.execute("UPDATE sources SET kind = ? WHERE id = ?", (kind, source_id))


def finish_source(
    index: Index, source_id: int, *, state: str, error: str | None, members: int | None = None
) -> None:
    index.execute(
        """UPDATE sources SET state = ?, error = ?, last_ingested = ?,
               members = COALESCE(?, members) WHERE id = ?""",
        (state, error, utc_now_iso(), members, source_id),
    )


def fail_pending_source(index: Index, path: str, error: str) -> None:
    """A run that never finished (a crash in a reader, a daemon that kept dying) leaves
    its source pending; it failed, and the row says why."""
    index.execute(
        """UPDATE sources SET state = 'failed', error = ?, last_ingested = ?
           WHERE path = ? AND state = 'pending'""",
        (error, utc_now_iso(), path),
    )


def record_blob(
    index: Index, digest: str, size: int, mime: str, sha256: str | None, *, rewritten: bool = False
) -> None:
    """Upsert a blob row. `rewritten`: this ingest wrote the object file; for a blob the
    index already knew, that is a repair (the object had gone: quarantined, deleted)."""
    if rewritten:
        index.execute("UPDATE blobs SET repairs = repairs + 1 WHERE digest = ?", (digest,))
    index.execute(
        """
        INSERT INTO blobs (digest, size, mime, kind, sha256, first_seen) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(digest) DO UPDATE SET sha256 = COALESCE(blobs.sha256, excluded.sha256)
        """,
        (digest, size, mime, kind_of(mime), sha256, utc_now_iso()),
    )


def record_occurrence(
    index: Index,
    source_id: int,
    member: str,
    digest: str,
    role: str,
    size: int,
    crc32: int | None,
    run: int,
) -> tuple[int, bool]:
    """Upsert one occurrence; returns its id and whether it is new or now names other bytes."""
    previous = index.execute(
        "SELECT id, digest FROM occurrences WHERE source_id = ? AND member = ?",
        (source_id, member),
    ).fetchone()
    if previous is not None and previous[1] == digest:
        index.execute(
            "UPDATE occurrences SET run = ?, role = ? WHERE id = ?", (run, role, previous[0])
        )
        return int(previous[0]), False
    if previous is not None:
        # Same member, new bytes: drop the old row (and its keys) so keys are recomputed.
        index.execute("DELETE FROM occurrences WHERE id = ?", (previous[0],))
    name = member.rsplit("/", 1)[-1]
    cursor = index.execute(
        """INSERT INTO occurrences (source_id, member, name, digest, role, size, crc32, run)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (source_id, member, name, digest, role, size, crc32, run),
    )
    return int(cursor.lastrowid or 0), True


def record_keys(
    index: Index, occurrence_id: int, keys: Iterable[tuple[str, str, str | None]]
) -> None:
    index.conn.executemany(
        """INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra) VALUES (?, ?, ?, ?)
           ON CONFLICT DO UPDATE SET extra = excluded.extra""",
        [(occurrence_id, kind, key, extra) for kind, key, extra in keys],
    )


def stale_occurrence_keys(index: Index, source_id: int, run: int) -> list[tuple[str, str]]:
    """Keys of the occurrences about to go, and the names of every other copy of their
    files: a copy that goes may take a claim with it (text mentions of those names)."""
    return [
        (row[0], row[1])
        for row in index.execute(
            """SELECT DISTINCT k.key_kind, k.key FROM occurrence_keys k
               JOIN occurrences o ON o.id = k.occurrence_id
               WHERE o.source_id = ? AND o.run != ?
               UNION
               SELECT DISTINCT k.key_kind, k.key FROM occurrences s
               JOIN occurrences o ON o.digest = s.digest
               JOIN occurrence_keys k ON k.occurrence_id = o.id AND k.key_kind = 'filename'
               WHERE s.source_id = ? AND s.run != ?""",
            (source_id, run, source_id, run),
        )
    ]


def remove_stale_occurrences(index: Index, source_id: int, run: int) -> int:
    cursor = index.execute(
        "DELETE FROM occurrences WHERE source_id = ? AND run != ?", (source_id, run)
    )
    return cursor.rowcount


def replace_member_failures(
    index: Index,
    source_id: int,
    failures: Iterable[tuple[str | None, str]],
    notes: Iterable[tuple[str | None, str]] = (),
) -> None:
    """What went wrong in a source: problems (it is partial) and notes (it is not)."""
    index.execute("DELETE FROM member_failures WHERE source_id = ?", (source_id,))
    now = utc_now_iso()
    rows = [(source_id, member, error, now, "problem") for member, error in failures]
    rows += [(source_id, member, error, now, "note") for member, error in notes]
    index.conn.executemany(
        """INSERT INTO member_failures (source_id, member, error, recorded, kind)
           VALUES (?, ?, ?, ?, ?)""",
        rows,
    )


def cached_digest(
    index: Index, path: str, device: int, inode: int, size: int, mtime_ns: int
) -> str | None:
    row = index.execute(
        "SELECT device, inode, size, mtime_ns, digest FROM file_cache WHERE path = ?", (path,)
    ).fetchone()
    if row and tuple(row[:4]) == (device, inode, size, int64(mtime_ns)):
        return str(row[4])
    return None


def remember_file(
    index: Index, path: str, device: int, inode: int, size: int, mtime_ns: int, digest: str
) -> None:
    index.execute(
        """INSERT INTO file_cache (path, device, inode, size, mtime_ns, digest)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(path) DO UPDATE SET device = excluded.device, inode = excluded.inode,
               size = excluded.size, mtime_ns = excluded.mtime_ns, digest = excluded.digest""",
        (path, device, inode, size, int64(mtime_ns), digest),
    )


def alias_keys(index: Index, name: str, *, size: int) -> list[tuple[str, str, str | None]]:
    """Keys that maps (era C's .dat map, chat.html's assetsJson) give to this file name.

    A 'size' alias stands for "this file's own size": the map knows the file is an id-less
    generated image but not how big it is.
    """
    keys: list[tuple[str, str, str | None]] = []
    for kind, key, extra in index.execute(
        "SELECT key_kind, key, extra FROM name_aliases WHERE name = ? ORDER BY key_kind, key",
        (name,),
    ):
        keys.append((kind, str(size) if kind == "size" else key, extra))
    return keys


def add_alias(
    index: Index, name: str, key_kind: str, key: str, extra: str | None, origin: str
) -> list[tuple[str, str]]:
    """Record an alias and give its key to every file already stored under that name.

    Returns the keys that files newly gained (their subjects must be rematched).
    """
    index.execute(
        """INSERT INTO name_aliases (name, key_kind, key, extra, origin) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING""",
        (name, key_kind, key, extra, origin),
    )
    gained: list[tuple[str, str]] = []
    for occurrence_id, size in index.execute(
        "SELECT id, size FROM occurrences WHERE name = ?", (name,)
    ).fetchall():
        actual = str(size) if key_kind == "size" else key
        cursor = index.execute(
            """INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra)
               VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            (occurrence_id, key_kind, actual, extra),
        )
        if cursor.rowcount:
            gained.append((key_kind, actual))
    return gained


def digest_for_crc(index: Index, crc32: int, size: int) -> str | None:
    """A digest already seen for a zip member with this CRC-32 and size (a hint, re-checked)."""
    row = index.execute(
        "SELECT digest FROM occurrences WHERE crc32 = ? AND size = ? LIMIT 1", (crc32, size)
    ).fetchone()
    return str(row[0]) if row else None


def blob_info(index: Index, digest: str) -> tuple[int, str, str | None] | None:
    row = index.execute(
        "SELECT size, mime, sha256 FROM blobs WHERE digest = ?", (digest,)
    ).fetchone()
    return (int(row[0]), str(row[1]), row[2]) if row else None
