"""Alias sources: a drop byte-identical to an ingested one (same size and whole-file
XXH3-128, `sources.content`) holds what that one holds (`sources.same_as`), with no
occurrences, keys or links of its own (issue 14: a copy of an export at another path
costs a read of the file, not an ingest).

Whoever asks what a source holds goes through its original (`holder_of`). When the
original is read again with other content, its first alias first takes a copy of the
original's occurrences and keys (`materialize`): an alias never loses what it held.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediasyncd.index.engine import Index
from mediasyncd.timeutil import utc_now_iso

# The subject whose links copied photos can change (the trace matcher's).
PHOTO_SUBJECT = "trace"


@dataclass(frozen=True)
class Original:
    id: int
    path: str
    kind: str | None
    state: str
    error: str | None
    members: int
    manifest_digest: str | None


def original_with_content(index: Index, content: str, other_than: str) -> Original | None:
    """The landed source (ok or partial, not itself an alias) with this content."""
    row = index.execute(
        """SELECT id, path, kind, state, error, members, manifest_digest FROM sources
           WHERE content = ? AND path != ? AND same_as IS NULL AND state IN ('ok', 'partial')
           AND manifest_digest IS NOT NULL ORDER BY id LIMIT 1""",
        (content, other_than),
    ).fetchone()
    return Original(*row) if row else None


def set_content(index: Index, source_id: int, content: str | None) -> None:
    index.execute("UPDATE sources SET content = ? WHERE id = ?", (content, source_id))


def content_of(index: Index, source_id: int) -> str | None:
    value = index.scalar("SELECT content FROM sources WHERE id = ?", (source_id,))
    return None if value is None else str(value)


def make_alias(index: Index, source_id: int, original: Original) -> None:
    """The source holds what `original` holds, in its state (inside a write)."""
    index.execute(
        """UPDATE sources SET same_as = ?, kind = ?, state = ?, error = ?, members = ?,
               last_ingested = ? WHERE id = ?""",
        (
            original.id,
            original.kind,
            original.state,
            original.error,
            original.members,
            utc_now_iso(),
            source_id,
        ),
    )


def clear_alias(index: Index, source_id: int) -> None:
    index.execute("UPDATE sources SET same_as = NULL WHERE id = ?", (source_id,))


def same_as(index: Index, source_id: int) -> int | None:
    value = index.scalar("SELECT same_as FROM sources WHERE id = ?", (source_id,))
    return None if value is None else int(value)


def aliases_of(index: Index, source_id: int) -> list[int]:
    return [
        int(row[0])
        for row in index.execute(
            "SELECT id FROM sources WHERE same_as = ? ORDER BY id", (source_id,)
        )
    ]


def holder_of(index: Index, source_id: int) -> int:
    """The source whose occurrences stand for this one's."""
    return same_as(index, source_id) or source_id


def materialize(index: Index, original_id: int, exclude_member: str) -> list[str]:
    """Before the original is read again: its first alias gets a copy of its occurrences,
    keys and photos and becomes the original of the others (inside a write). Returns
    the users whose photos were copied (their trace links are recomputed)."""
    aliases = aliases_of(index, original_id)
    if not aliases:
        return []
    heir, others = aliases[0], aliases[1:]
    run = int(index.scalar("SELECT run FROM sources WHERE id = ?", (heir,)) or 0)
    index.execute(
        """INSERT INTO occurrences (source_id, member, name, digest, role, size, crc32, run)
           SELECT ?, member, name, digest, role, size, crc32, ? FROM occurrences
           WHERE source_id = ? AND member != ?
           ON CONFLICT (source_id, member) DO NOTHING""",
        (heir, run, original_id, exclude_member),
    )
    # Each copied occurrence `n` of the heir beside the original's `o` of the same member.
    index.execute(
        """INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra)
           SELECT n.id, k.key_kind, k.key, k.extra FROM occurrences o
           JOIN occurrences n ON n.source_id = ? AND n.member = o.member
           JOIN occurrence_keys k ON k.occurrence_id = o.id
           WHERE o.source_id = ?
           ON CONFLICT DO NOTHING""",
        (heir, original_id),
    )
    index.execute(
        """INSERT INTO dump_images (occurrence_id, user_id, taken, ts, time_source)
           SELECT n.id, d.user_id, d.taken, d.ts, d.time_source FROM occurrences o
           JOIN occurrences n ON n.source_id = ? AND n.member = o.member
           JOIN dump_images d ON d.occurrence_id = o.id
           WHERE o.source_id = ?
           ON CONFLICT DO NOTHING""",
        (heir, original_id),
    )
    index.execute("UPDATE sources SET same_as = NULL WHERE id = ?", (heir,))
    for other in others:
        index.execute("UPDATE sources SET same_as = ? WHERE id = ?", (heir, other))
    return [
        str(row[0])
        for row in index.execute(
            """SELECT DISTINCT d.user_id FROM dump_images d
               JOIN occurrences o ON o.id = d.occurrence_id WHERE o.source_id = ?""",
            (heir,),
        )
    ]
