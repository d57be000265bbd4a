"""Sources (one row per dropped file or folder) and what went wrong in them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mediasyncd.index.engine import Index
from mediasyncd.timeutil import utc_now_iso

# A problem makes its source partial; a note (read and stored, but worth saying) does not.
PROBLEM = "problem"
NOTE = "note"


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
    """`value` clamped to 64-bit integers. Found by fuzzing: a file dated after 2262
    (`touch -d 2300-01-01`; ext4 goes to 2446) has an st_mtime_ns SQLite cannot store,
    and the ingest died on it. Clamped, it still tells versions apart for caching."""
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


def set_manifest(index: Index, source_id: int, digest: str) -> None:
    """The store object that records what this source held (mediasyncd.store.manifest)."""
    index.execute("UPDATE sources SET manifest_digest = ? WHERE id = ?", (digest, source_id))


def finish_source(
    index: Index, source_id: int, *, state: str, error: str | None, members: int | None = None
) -> None:
    index.execute(
        """UPDATE sources SET state = ?, error = ?, last_ingested = ?,
               members = COALESCE(?, members) WHERE id = ?""",
        (state, error, utc_now_iso(), members, source_id),
    )


def forget_fingerprint(index: Index, source_id: int) -> None:
    """The next ingest reads the source again even if it is unchanged on disk."""
    index.execute("UPDATE sources SET fingerprint = NULL WHERE id = ?", (source_id,))


def forget_fingerprints(index: Index, paths: Iterable[str]) -> None:
    index.executemany("UPDATE sources SET fingerprint = NULL WHERE path = ?", [(p,) for p in paths])


def fail_pending_source(index: Index, path: str, error: str) -> None:
    """A run that never finished (a crash in a reader, a daemon that kept dying) leaves
    its source pending; it failed, and the row says why."""
    index.execute(
        """UPDATE sources SET state = 'failed', error = ?, last_ingested = ?
           WHERE path = ? AND state = 'pending'""",
        (error, utc_now_iso(), path),
    )


def state_of(index: Index, source_id: int) -> str | None:
    value = index.scalar("SELECT state FROM sources WHERE id = ?", (source_id,))
    return None if value is None else str(value)


def set_state(index: Index, source_id: int, state: str, error: str | None) -> None:
    index.execute("UPDATE sources SET state = ?, error = ? WHERE id = ?", (state, error, source_id))


def source_path(index: Index, source_id: int) -> str | None:
    value = index.scalar("SELECT path FROM sources WHERE id = ?", (source_id,))
    return None if value is None else str(value)


def fingerprint_at(index: Index, path: str) -> str | None:
    """The fingerprint of the version of the drop at `path` that was last read."""
    value = index.scalar("SELECT fingerprint FROM sources WHERE path = ?", (path,))
    return str(value) if value else None


def error_at(index: Index, path: str) -> str | None:
    """What the source row at `path` says went wrong (its problems, or why it failed)."""
    value = index.scalar("SELECT error FROM sources WHERE path = ?", (path,))
    return str(value) if value else None


def rename_source(index: Index, old: str, new: str) -> None:
    """The source keeps its rows under a new name, unless a source has that name already
    (then the old row keeps its name)."""
    index.execute(
        """UPDATE sources SET path = ? WHERE path = ?
           AND NOT EXISTS (SELECT 1 FROM sources taken WHERE taken.path = ?)""",
        (new, old, new),
    )


def sources_holding(index: Index, digest: str) -> list[str]:
    """The paths of the sources an object was found in, in order (a copy recorded as an
    alias holds what its original holds)."""
    return [
        str(row[0])
        for row in index.execute(
            """SELECT s.path FROM occurrences o JOIN sources s ON s.id = o.source_id
               WHERE o.digest = ?
               UNION
               SELECT a.path FROM occurrences o JOIN sources a ON a.same_as = o.source_id
               WHERE o.digest = ? ORDER BY 1""",
            (digest, digest),
        )
    ]


# -- member failures ------------------------------------------------------------------


def replace_member_failures(
    index: Index,
    source_id: int,
    failures: Iterable[tuple[str | None, str]],
    notes: Iterable[tuple[str | None, str]] = (),
) -> None:
    """What went wrong in a source: problems (it is partial) and notes (it is not)."""
    index.execute("DELETE FROM member_failures WHERE source_id = ?", (source_id,))
    now = utc_now_iso()
    rows = [(source_id, member, error, now, PROBLEM) for member, error in failures]
    rows += [(source_id, member, error, now, NOTE) for member, error in notes]
    index.executemany(
        """INSERT INTO member_failures (source_id, member, error, recorded, kind)
           VALUES (?, ?, ?, ?, ?)""",
        rows,
    )


def member_failures(index: Index, source_id: int, kind: str) -> list[tuple[str | None, str]]:
    """(member, error) of a source's problems or notes, in the order recorded."""
    rows = index.execute(
        """SELECT member, error FROM member_failures
           WHERE source_id = ? AND kind = ? ORDER BY id""",
        (source_id, kind),
    ).fetchall()
    return [(r[0], str(r[1])) for r in rows]


def problem_count(index: Index, source_id: int) -> int:
    return int(
        index.scalar(
            "SELECT COUNT(*) FROM member_failures WHERE source_id = ? AND kind = ?",
            (source_id, PROBLEM),
        )
        or 0
    )
