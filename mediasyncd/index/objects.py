"""Blobs (one row per stored object), their occurrences in sources, the keys each
occurrence can satisfy, and the caches beside them (file cache, name aliases, documents
already interpreted)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mediasyncd.index.engine import Index, marks
from mediasyncd.index.sources import int64
from mediasyncd.store.mediatype import kind_of
from mediasyncd.timeutil import utc_now_iso

# Digests per `IN (...)` of a bulk lookup.
CHUNK = 500


@dataclass(frozen=True)
class BlobInfo:
    size: int
    mime: str
    sha256: str | None


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


@dataclass(frozen=True)
class NewBlob:
    digest: str
    size: int
    mime: str
    sha256: str | None
    rewritten: bool


def record_blobs(index: Index, blobs: Sequence[NewBlob]) -> None:
    """`record_blob` for a batch: two statements, however many rows."""
    index.executemany(
        "UPDATE blobs SET repairs = repairs + 1 WHERE digest = ?",
        [(blob.digest,) for blob in blobs if blob.rewritten],
    )
    now = utc_now_iso()
    index.executemany(
        """
        INSERT INTO blobs (digest, size, mime, kind, sha256, first_seen) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(digest) DO UPDATE SET sha256 = COALESCE(blobs.sha256, excluded.sha256)
        """,
        [(b.digest, b.size, b.mime, kind_of(b.mime), b.sha256, now) for b in blobs],
    )


def blob_info(index: Index, digest: str) -> BlobInfo | None:
    row = index.execute(
        "SELECT size, mime, sha256 FROM blobs WHERE digest = ?", (digest,)
    ).fetchone()
    return BlobInfo(int(row[0]), str(row[1]), row[2]) if row else None


def blob_sizes(index: Index) -> dict[str, int]:
    """Every known digest with its size (verify compares the store against it)."""
    return {str(r[0]): int(r[1]) for r in index.execute("SELECT digest, size FROM blobs")}


def blob_digests(index: Index, low: str, high: str | None) -> list[str]:
    """Known digests in [low, high) (high None: to the end), in order."""
    if high is None:
        rows = index.execute("SELECT digest FROM blobs WHERE digest >= ? ORDER BY digest", (low,))
    else:
        rows = index.execute(
            "SELECT digest FROM blobs WHERE digest >= ? AND digest < ? ORDER BY digest",
            (low, high),
        )
    return [str(row[0]) for row in rows]


def sha256_of(index: Index, digests: Iterable[str]) -> dict[str, str]:
    """digest -> SHA-256 (hex) of the objects that have one recorded."""
    found: dict[str, str] = {}
    ordered = sorted(set(digests))
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        for digest, sha in index.execute(
            f"SELECT digest, sha256 FROM blobs WHERE digest IN ({marks(chunk)})", chunk
        ):
            if sha:
                found[str(digest)] = str(sha)
    return found


def repaired_blobs(index: Index) -> dict[str, int]:
    """digest -> how many times the object was written again after it had gone."""
    return {
        str(digest): int(count)
        for digest, count in index.execute("SELECT digest, repairs FROM blobs WHERE repairs > 0")
    }


def unreferenced_blobs(index: Index, after: str, limit: int) -> list[tuple[str, int]]:
    """(digest, size) of blobs no occurrence, match, source manifest, conversation or
    kept recipe names, after `after` in digest order."""
    rows = index.execute(
        """
        SELECT b.digest, b.size FROM blobs b
        WHERE b.digest > ?
          AND NOT EXISTS (SELECT 1 FROM occurrences o WHERE o.digest = b.digest)
          AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.digest = b.digest)
          AND NOT EXISTS (SELECT 1 FROM sources s WHERE s.manifest_digest = b.digest)
          AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.document = b.digest)
          AND NOT EXISTS (SELECT 1 FROM document_parts p WHERE p.part = b.digest)
        ORDER BY b.digest LIMIT ?
        """,
        (after, limit),
    ).fetchall()
    return [(str(digest), int(size)) for digest, size in rows]


# The `documents` mark of a document kept as a recipe (mediasyncd.store.documents).
RECIPE_MARK = "recipe"


def forget_blob(index: Index, digest: str) -> None:
    """Remove a blob row and the caches that name it (its object is being removed)."""
    if document_seen(index, digest, RECIPE_MARK):
        # (A scan of document_parts: only for a recipe, see schema 0009.)
        index.execute("DELETE FROM document_parts WHERE document = ?", (digest,))
    index.execute("DELETE FROM documents WHERE digest = ?", (digest,))
    index.execute("DELETE FROM file_cache WHERE digest = ?", (digest,))
    index.execute("DELETE FROM blobs WHERE digest = ?", (digest,))


# -- occurrences and their keys ----------------------------------------------------------


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
    occurrence_id = index.inserted_id(
        """INSERT INTO occurrences (source_id, member, name, digest, role, size, crc32, run)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        (source_id, member, name, digest, role, size, crc32, run),
    )
    return occurrence_id, True


@dataclass(frozen=True)
class NewOccurrence:
    member: str
    digest: str
    role: str
    size: int
    crc32: int | None


def record_occurrences(
    index: Index, source_id: int, run: int, rows: Sequence[NewOccurrence]
) -> list[tuple[int, bool]]:
    """`record_occurrence` for a batch of distinct members, a few statements per batch:
    each member's occurrence id and whether it is new (or now names other bytes)."""
    members = [row.member for row in rows]
    if len(set(members)) != len(members):
        raise ValueError("record_occurrences takes distinct members")
    previous = _occurrence_ids(index, source_id, members, with_digest=True)
    kept = [r for r in rows if r.member in previous and previous[r.member][1] == r.digest]
    replaced = [r for r in rows if r.member in previous and previous[r.member][1] != r.digest]
    fresh = [r for r in rows if r.member not in previous or previous[r.member][1] != r.digest]
    index.executemany(
        "UPDATE occurrences SET run = ?, role = ? WHERE id = ?",
        [(run, r.role, previous[r.member][0]) for r in kept],
    )
    # Same member, new bytes: drop the old row (and its keys) so keys are recomputed.
    index.executemany(
        "DELETE FROM occurrences WHERE id = ?", [(previous[r.member][0],) for r in replaced]
    )
    index.executemany(
        """INSERT INTO occurrences (source_id, member, name, digest, role, size, crc32, run)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (
                source_id,
                r.member,
                r.member.rsplit("/", 1)[-1],
                r.digest,
                r.role,
                r.size,
                r.crc32,
                run,
            )
            for r in fresh
        ],
    )
    inserted = _occurrence_ids(index, source_id, [r.member for r in fresh], with_digest=False)
    unchanged = {r.member for r in kept}
    return [
        (previous[r.member][0], False) if r.member in unchanged else (inserted[r.member][0], True)
        for r in rows
    ]


def _occurrence_ids(
    index: Index, source_id: int, members: Sequence[str], *, with_digest: bool
) -> dict[str, tuple[int, str]]:
    """member -> (occurrence id, digest) of these members of the source."""
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(members), CHUNK):
        chunk = members[start : start + CHUNK]
        for member, occurrence_id, digest in index.execute(
            f"""SELECT member, id, digest FROM occurrences
                WHERE source_id = ? AND member IN ({marks(chunk)})""",
            (source_id, *chunk),
        ):
            found[str(member)] = (int(occurrence_id), str(digest))
    return found


def record_keys_of(index: Index, keys: Iterable[tuple[int, str, str, str | None]]) -> None:
    """`record_keys` for many occurrences at once: (occurrence id, kind, key, extra)."""
    index.executemany(
        """INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra) VALUES (?, ?, ?, ?)
           ON CONFLICT (occurrence_id, key_kind, key) DO UPDATE SET extra = excluded.extra""",
        list(keys),
    )


# (key kind, key, digest, member, role, extra): all a matcher reads of an occurrence's key.
KeyedFile = tuple[str, str, str, str, str, str | None]


def held_keyed_files(index: Index, candidates: Iterable[KeyedFile]) -> set[KeyedFile]:
    """The candidates some occurrence already holds: that file (digest, member path,
    role) under that key with that extra. An occurrence that adds none anew (the same
    file under the same member path in another drop) changes no link.

    Looked up from each candidate's file, not from its key: a name key such as
    `image.png` is shared by hundreds of occurrences, and by one more each month, so
    reading every holder of every key read 1.4 million rows for next month's export of
    10,000 conversations (0.6 s) and grew with every export kept. The file has one
    occurrence per export kept too: EXISTS stops at the first that holds the key."""
    wanted = list(set(candidates))  # the answer is a set: no order to keep
    if not wanted:
        return set()
    join = index.dialect.ordered_join
    columns = ("key_kind", "key", "digest", "member", "role", "extra")
    with index.row_table("temp_held_keyed_files", columns, wanted) as table:
        return {
            (str(kind), str(key), str(digest), str(member), str(role), extra)
            for kind, key, digest, member, role, extra in index.execute(
                f"""SELECT t.key_kind, t.key, t.digest, t.member, t.role, t.extra
                    FROM {table} t
                    WHERE EXISTS (
                        SELECT 1 FROM occurrences o
                        {join} occurrence_keys k
                            ON k.occurrence_id = o.id AND k.key_kind = t.key_kind
                            AND k.key = t.key
                        WHERE o.digest = t.digest AND o.member = t.member AND o.role = t.role
                        AND k.extra IS NOT DISTINCT FROM t.extra)"""
            )
        }


def record_keys(
    index: Index, occurrence_id: int, keys: Iterable[tuple[str, str, str | None]]
) -> None:
    index.executemany(
        """INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra) VALUES (?, ?, ?, ?)
           ON CONFLICT (occurrence_id, key_kind, key) DO UPDATE SET extra = excluded.extra""",
        [(occurrence_id, kind, key, extra) for kind, key, extra in keys],
    )


def keys_of(
    index: Index, occurrence_id: int, kinds: Sequence[str]
) -> list[tuple[str, str, str | None]]:
    """An occurrence's keys of these kinds, by kind and key."""
    return [
        (str(r[0]), str(r[1]), r[2])
        for r in index.execute(
            f"""SELECT key_kind, key, extra FROM occurrence_keys
                WHERE occurrence_id = ? AND key_kind IN ({marks(kinds)}) ORDER BY key_kind, key""",
            (occurrence_id, *kinds),
        )
    ]


def replace_keys(
    index: Index,
    occurrence_id: int,
    kinds: Sequence[str],
    keys: Iterable[tuple[str, str, str | None]],
) -> None:
    """The occurrence's keys of these kinds become `keys`."""
    index.execute(
        f"DELETE FROM occurrence_keys WHERE occurrence_id = ? AND key_kind IN ({marks(kinds)})",
        (occurrence_id, *kinds),
    )
    index.executemany(
        "INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra) VALUES (?, ?, ?, ?)",
        [(occurrence_id, *key) for key in keys],
    )


def stale_occurrence_keys(index: Index, source_id: int, run: int) -> list[tuple[str, str]]:
    """Keys of the occurrences about to go, and the names of every other copy of their
    files: a copy that goes may take a claim with it (text mentions of those names)."""
    # The ordered join starts from the source's occurrences: with sampled statistics
    # (PRAGMA optimize's analysis limit) SQLite took a kind's keys for few and started
    # from every filename key (0.66 s for a privacy archive at 50,000 conversations).
    join = index.dialect.ordered_join
    return [
        (row[0], row[1])
        for row in index.execute(
            f"""SELECT DISTINCT k.key_kind, k.key FROM occurrence_keys k
               JOIN occurrences o ON o.id = k.occurrence_id
               WHERE o.source_id = ? AND o.run != ?
               UNION
               SELECT DISTINCT k.key_kind, k.key FROM occurrences s
               {join} occurrences o ON o.digest = s.digest
               {join} occurrence_keys k ON k.occurrence_id = o.id AND k.key_kind = 'filename'
               WHERE s.source_id = ? AND s.run != ?""",
            (source_id, run, source_id, run),
        )
    ]


def remove_stale_occurrences(index: Index, source_id: int, run: int) -> int:
    cursor = index.execute(
        "DELETE FROM occurrences WHERE source_id = ? AND run != ?", (source_id, run)
    )
    return cursor.rowcount


def digest_for_crc(index: Index, crc32: int, size: int) -> str | None:
    """A digest already seen for a zip member with this CRC-32 and size (a hint, re-checked).
    The index has a blob row for it: an occurrence's digest is a foreign key to blobs."""
    row = index.execute(
        "SELECT digest FROM occurrences WHERE crc32 = ? AND size = ? LIMIT 1", (crc32, size)
    ).fetchone()
    return str(row[0]) if row else None


# -- the file cache ---------------------------------------------------------------------


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


# -- name aliases -----------------------------------------------------------------------


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


def alias_keys_of(
    index: Index, names: Iterable[str]
) -> dict[str, list[tuple[str, str, str | None]]]:
    """`alias_keys` of many names at once, by name (a 'size' alias still to be given its
    file's size by the caller, as `alias_keys` does)."""
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    ordered = sorted(set(names))
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        for name, kind, key, extra in index.execute(
            f"""SELECT name, key_kind, key, extra FROM name_aliases
                WHERE name IN ({marks(chunk)}) ORDER BY name, key_kind, key""",
            chunk,
        ):
            found.setdefault(str(name), []).append((str(kind), str(key), extra))
    return found


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
    # One statement for every occurrence of the name: a name has one occurrence per
    # export kept, and a round trip each cost next month's export more with every month.
    # A size alias gives each file its own size.
    return [
        (str(kind), str(actual))
        for kind, actual in index.execute(
            """INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra)
               SELECT id, ?, CASE WHEN ? = 'size' THEN CAST(size AS TEXT) ELSE ? END, ?
               FROM occurrences WHERE name = ?
               ON CONFLICT DO NOTHING RETURNING key_kind, key""",
            (key_kind, key_kind, key, extra, name),
        ).fetchall()
    ]


# -- documents already interpreted --------------------------------------------------------


def document_seen(index: Index, digest: str, interpreter: str) -> bool:
    return (
        index.execute(
            "SELECT 1 FROM documents WHERE digest = ? AND interpreter = ?", (digest, interpreter)
        ).fetchone()
        is not None
    )


def mark_document(index: Index, digest: str, interpreter: str) -> None:
    index.execute(
        """INSERT INTO documents (digest, interpreter, interpreted) VALUES (?, ?, ?)
           ON CONFLICT (digest, interpreter) DO UPDATE SET interpreted = excluded.interpreted""",
        (digest, interpreter, utc_now_iso()),
    )


# -- document versions (gc.keep_document_versions) ----------------------------------------


def recipe_versions(index: Index) -> list[tuple[int, str, str | None]]:
    """(source id, recipe, conversation id) for every part of every kept recipe, newest
    first: a recipe is as new as its first occurrence (occurrence ids only grow)."""
    rows = index.execute(
        """
        WITH firsts AS (
            SELECT o.digest, MIN(o.id) AS first_id FROM occurrences o
            WHERE o.digest IN (SELECT document FROM document_parts) GROUP BY o.digest
        )
        SELECT o.source_id, p.document, p.conversation_id
        FROM document_parts p
        JOIN firsts f ON f.digest = p.document
        JOIN occurrences o ON o.id = f.first_id
        ORDER BY f.first_id DESC, p.document
        """
    ).fetchall()
    return [(int(source), str(document), conv) for source, document, conv in rows]


def forget_recipe(index: Index, document: str) -> None:
    """The recipe was dropped as superseded: its parts are no longer held by it."""
    index.execute("DELETE FROM document_parts WHERE document = ?", (document,))
    index.execute(
        """INSERT INTO superseded_documents (digest, dropped) VALUES (?, ?)
           ON CONFLICT (digest) DO UPDATE SET dropped = excluded.dropped""",
        (document, utc_now_iso()),
    )
