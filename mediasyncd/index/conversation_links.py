"""What the conversation matcher reads and writes: a conversation's references and the
files whose keys they share, the conversations a change of keys affects, and the links
(`matches` of subject 'conversation', `resolved_refs`).

The rules are mediasyncd.conversations.matcher's and .mentions'; the SQL is here. Two
plan hints keep SQLite fast on a large index (docs/architecture.md, "The index"):
`Dialect.ordered_join` (SQLite's CROSS JOIN) fixes the join order where SQLite would
start from the wrong table, and `Dialect.no_index` (a `+`) keeps it on the selective
index of a name rather than an index of every mention.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from mediasyncd.index.engine import Index, marks

# Keys through which a file is claimed, besides a file id some reference names.
CLAIMING_KEY_KINDS: Final = ("conversation_dir", "gen_id", "size")
_CHANGED_KEYS: Final = "_changed_keys"

# One link row: (conversation_id, message_id, digest, ref_id, strategy, association,
# confidence, detail).
LinkRow = tuple[Any, ...]


@dataclass
class RefRecord:
    """One reference of a conversation, with its further keys."""

    id: int
    message_id: str | None
    kind: str
    key_kind: str
    key: str
    extra: dict[str, Any]
    more_keys: list[tuple[str, str]] = field(default_factory=list)


# -- the rules of text mentions, as SQL -------------------------------------------------


def _kinds(kinds: Sequence[str]) -> str:
    return ", ".join(f"'{kind}'" for kind in kinds)


def unclaimed_sql(digest_expr: str) -> str:
    """SQL that is true when no copy of the file `digest_expr` is claimed."""
    return f"""NOT EXISTS (
        SELECT 1 FROM occurrences c JOIN occurrence_keys ck ON ck.occurrence_id = c.id
        WHERE c.digest = {digest_expr} AND (
            ck.key_kind IN ({_kinds(CLAIMING_KEY_KINDS)})
            OR (ck.key_kind = 'file_id' AND EXISTS (
                SELECT 1 FROM refs cr WHERE cr.key_kind = 'file_id' AND cr.key = ck.key
                AND cr.subject = 'conversation'))))"""


def mentioned_in_sql(index: Index, name_expr: str) -> str:
    """SQL for how many conversations mention `name_expr` (counting stops at 2)."""
    # The hint keeps SQLite on refs_lookup (this name) instead of refs_kind (every mention).
    kind = index.dialect.no_index("mr.kind")
    return f"""(SELECT COUNT(*) FROM (
        SELECT DISTINCT mr.conversation_id FROM refs mr
        WHERE mr.key_kind = 'filename' AND mr.key = {name_expr} AND {kind} = 'text_mention'
        AND mr.subject = 'conversation' LIMIT 2) AS mentioning)"""


def unclaimed_exists_sql(name_expr: str) -> str:
    """SQL that is true when some unclaimed media file is named `name_expr`."""
    return f"""EXISTS (
        SELECT 1 FROM occurrence_keys nk JOIN occurrences n ON n.id = nk.occurrence_id
        WHERE nk.key_kind = 'filename' AND nk.key = {name_expr} AND n.role = 'media'
        AND {unclaimed_sql("n.digest")})"""


def ambiguous_mention_sql(index: Index, ref_alias: str) -> str:
    """SQL that is true for a text mention whose name an unclaimed file has, mentioned in
    two or more conversations: the candidate `unresolved` lists."""
    name = f"{ref_alias}.key"
    return (
        f"({ref_alias}.kind = 'text_mention' AND {unclaimed_exists_sql(name)} "
        f"AND {mentioned_in_sql(index, name)} >= 2)"
    )


def unclaimed_files(index: Index, name: str) -> list[str]:
    """Digests of the media files named `name` that nothing claims."""
    rows = index.execute(
        f"""SELECT DISTINCT n.digest FROM occurrence_keys nk
            JOIN occurrences n ON n.id = nk.occurrence_id
            WHERE nk.key_kind = 'filename' AND nk.key = ? AND n.role = 'media'
            AND {unclaimed_sql("n.digest")} ORDER BY n.digest""",
        (name,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def mentioned_in_one_conversation(index: Index, name: str) -> bool:
    return int(index.scalar(f"SELECT {mentioned_in_sql(index, '?')}", (name,)) or 0) == 1


def _claim_bridge_sql(index: Index, changed_table: str) -> str:
    """SQL for the conversations whose mention links may change when the keys in
    `changed_table` (key_kind, key) change: a key that can claim a file leads to every
    copy of that file, to their names, to the conversations mentioning those names."""
    kinds = _kinds(("file_id", *CLAIMING_KEY_KINDS))
    # The ordered join fixes the order (changed key, its files, their copies, their
    # names, the mentions): left to itself SQLite pairs every filename key with every
    # file id key; the index hint keeps it on refs_lookup rather than every mention.
    join = index.dialect.ordered_join
    kind = index.dialect.no_index("r.kind")
    return f"""SELECT DISTINCT r.conversation_id FROM {changed_table} c
        {join} occurrence_keys k1 ON k1.key_kind = c.key_kind AND k1.key = c.key
        {join} occurrences o1 ON o1.id = k1.occurrence_id
        {join} occurrences o2 ON o2.digest = o1.digest
        {join} occurrence_keys k2 ON k2.occurrence_id = o2.id AND k2.key_kind = 'filename'
        {join} refs r ON r.key_kind = 'filename' AND r.key = k2.key
        WHERE c.key_kind IN ({kinds}) AND {kind} = 'text_mention'
        AND r.subject = 'conversation'"""


# -- which conversations a change touches ------------------------------------------------


def is_conversation(index: Index, conversation_id: str) -> bool:
    """Whether the index knows the conversation (or some reference names it)."""
    return bool(
        index.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        or index.execute(
            "SELECT 1 FROM refs WHERE conversation_id = ? LIMIT 1", (conversation_id,)
        ).fetchone()
    )


def conversations_using(
    index: Index, keys: Sequence[tuple[str, str]], *, through_claims: bool
) -> set[str]:
    """Conversations with a reference (or a further key of one) among `keys`; with
    `through_claims`, also those mentioning a name of a file one of the keys claims."""
    ids: set[str] = set()
    # The ordered join starts from the changed keys: the key table has no statistics,
    # and SQLite otherwise scanned every conversation reference (0.3 s at 50,000
    # conversations for a privacy archive's few keys).
    join = index.dialect.ordered_join
    with index.key_table(_CHANGED_KEYS, keys) as table:
        bridge = f"UNION {_claim_bridge_sql(index, table)}" if through_claims else ""
        for (conversation_id,) in index.execute(
            f"""SELECT DISTINCT r.conversation_id FROM {table} c
               {join} refs r ON r.key_kind = c.key_kind AND r.key = c.key
               WHERE r.subject = 'conversation'
               UNION
               SELECT DISTINCT r.conversation_id FROM {table} c
               {join} ref_keys k ON k.key_kind = c.key_kind AND k.key = c.key
               {join} refs r ON r.id = k.ref_id WHERE r.subject = 'conversation'
               {bridge}"""
        ).fetchall():
            if conversation_id:
                ids.add(str(conversation_id))
    return ids


def all_conversation_ids(index: Index) -> set[str]:
    """Every conversation, and every id a reference names (library entries may name a
    conversation no export has brought)."""
    ids = {str(r[0]) for r in index.execute("SELECT id FROM conversations")}
    ids |= {
        str(r[0])
        for r in index.execute(
            "SELECT DISTINCT conversation_id FROM refs "
            "WHERE subject = 'conversation' AND conversation_id IS NOT NULL"
        )
    }
    return ids


# -- the evidence the matcher reads -----------------------------------------------------

FolderFile = tuple[str, int, str, str]


@dataclass
class ChunkEvidence:
    """What the matcher reads of a chunk of conversations, read a few queries at a time
    instead of several per conversation (the first ingest of 10,000 conversations spent
    about 0.5 s in those single-row queries)."""

    refs: dict[str, list[RefRecord]]
    known: set[str]
    # (digest, provenance) of the media with each `file_id` key the chunk's references
    # name, in the order media_with_key returns them (by occurrence).
    media_by_file_id: dict[str, list[tuple[str, str | None]]]
    # (digest, size, kind, first member) of the media in each conversation's own folder.
    folders: dict[str, list[FolderFile]]


def evidence_of(index: Index, conversation_ids: Sequence[str]) -> ChunkEvidence:
    """The references (with their further keys), whether the index has the
    conversation, the media of each `file_id` a reference names and the media of the
    conversation's own folder, for every conversation in `conversation_ids` (a
    matcher's chunk: a few hundred)."""
    ids = list(conversation_ids)
    evidence = ChunkEvidence({}, set(), {}, {})
    if not ids:
        return evidence
    by_ref: dict[int, RefRecord] = {}
    for conversation_id, *row in index.execute(
        f"""SELECT conversation_id, id, message_id, kind, key_kind, key, extra FROM refs
            WHERE subject = 'conversation' AND conversation_id IN ({marks(ids)})
            ORDER BY conversation_id, id""",
        ids,
    ):
        ref = RefRecord(
            int(row[0]),
            row[1],
            str(row[2]),
            str(row[3]),
            str(row[4]),
            json.loads(row[5]) if row[5] else {},
        )
        by_ref[ref.id] = ref
        evidence.refs.setdefault(str(conversation_id), []).append(ref)
    if by_ref:
        join = index.dialect.ordered_join
        for ref_id, kind, key in index.execute(
            f"""SELECT k.ref_id, k.key_kind, k.key FROM refs r
                {join} ref_keys k ON k.ref_id = r.id
                WHERE r.subject = 'conversation' AND r.conversation_id IN ({marks(ids)})
                ORDER BY k.ref_id, k.key_kind, k.key""",
            ids,
        ):
            by_ref[int(ref_id)].more_keys.append((str(kind), str(key)))
    evidence.known = {
        str(r[0])
        for r in index.execute(f"SELECT id FROM conversations WHERE id IN ({marks(ids)})", ids)
    }
    file_ids = sorted({("file_id", r.key) for r in by_ref.values() if r.key_kind == "file_id"})
    evidence.media_by_file_id = {key: [] for _, key in file_ids}
    if file_ids:
        join = index.dialect.ordered_join
        with index.key_table("temp_chunk_file_ids", file_ids) as table:
            for key, digest, extra in index.execute(
                f"""SELECT t.key, o.digest, k.extra FROM {table} t
                    {join} occurrence_keys k ON k.key_kind = t.key_kind AND k.key = t.key
                    {join} occurrences o ON o.id = k.occurrence_id
                    WHERE o.role = 'media'
                    ORDER BY t.key, k.occurrence_id"""
            ):
                evidence.media_by_file_id[str(key)].append((str(digest), extra))
    for conversation_id, digest, size, kind, member in index.execute(
        f"""SELECT k.key, o.digest, b.size, b.kind, MIN(o.member)
            FROM occurrence_keys k JOIN occurrences o ON o.id = k.occurrence_id
            JOIN blobs b ON b.digest = o.digest
            WHERE k.key_kind = 'conversation_dir' AND k.key IN ({marks(ids)})
            AND o.role = 'media'
            GROUP BY k.key, o.digest, b.size, b.kind ORDER BY k.key, o.digest, b.size, b.kind""",
        ids,
    ):
        evidence.folders.setdefault(str(conversation_id), []).append(
            (str(digest), int(size), str(kind), str(member))
        )
    return evidence


def media_with_key(index: Index, kind: str, key: str) -> list[tuple[str, str | None]]:
    """(digest, provenance) of every media occurrence with this key."""
    return [
        (str(digest), extra)
        for digest, extra in index.execute(
            """SELECT o.digest, k.extra FROM occurrence_keys k
               JOIN occurrences o ON o.id = k.occurrence_id
               WHERE k.key_kind = ? AND k.key = ? AND o.role = 'media'""",
            (kind, key),
        )
    ]


def size_claims(index: Index, size: str) -> int:
    """How many references (in the whole index) name a generated image of this size."""
    return int(
        index.scalar("SELECT COUNT(*) FROM ref_keys WHERE key_kind = 'size' AND key = ?", (size,))
        or 0
    )


def names_of(index: Index, digests: Sequence[str]) -> list[tuple[str, str]]:
    """(digest, file name) of every `filename` key of these files' occurrences."""
    join = index.dialect.ordered_join
    # The ordered join keeps SQLite starting from these few digests (occurrences_digest,
    # then occurrence_keys_occurrence); left to itself it walks every filename key of the
    # index for each conversation.
    return [
        (str(digest), str(key))
        for digest, key in index.execute(
            f"""SELECT DISTINCT o.digest, k.key FROM occurrences o
                {join} occurrence_keys k ON k.occurrence_id = o.id
                WHERE k.key_kind = 'filename' AND o.digest IN ({marks(digests)})""",
            list(digests),
        ).fetchall()
    ]


# -- the links ------------------------------------------------------------------------


def links_of(index: Index, conversation_ids: Sequence[str]) -> set[LinkRow]:
    return {
        tuple(row)
        for row in index.execute(
            f"""SELECT conversation_id, message_id, digest, ref_id, strategy, association,
                       confidence, detail
                FROM matches WHERE subject = 'conversation'
                AND conversation_id IN ({marks(conversation_ids)})""",
            conversation_ids,
        )
    }


def remove_all_links(index: Index) -> int:
    """Remove every conversation link and resolved reference; returns the links removed."""
    count = int(index.scalar("SELECT COUNT(*) FROM matches WHERE subject = 'conversation'") or 0)
    index.execute("DELETE FROM matches WHERE subject = 'conversation'")
    index.execute("DELETE FROM resolved_refs")
    return count


def record_resolved(
    index: Index,
    conversation_ids: Sequence[str],
    resolved: Iterable[tuple[int, str]],
    *,
    full: bool,
) -> None:
    """References resolved by a link whose row names another reference of the message
    ((ref id, conversation id) each); `full`: the table was emptied already."""
    if not full:
        index.execute(
            f"DELETE FROM resolved_refs WHERE conversation_id IN ({marks(conversation_ids)})",
            conversation_ids,
        )
    index.executemany(
        """INSERT INTO resolved_refs (ref_id, conversation_id) VALUES (?, ?)
           ON CONFLICT (ref_id) DO UPDATE SET conversation_id = excluded.conversation_id""",
        resolved,
    )


def replace_links(index: Index, conversation_ids: Sequence[str], rows: Iterable[LinkRow]) -> None:
    index.execute(
        f"""DELETE FROM matches WHERE subject = 'conversation'
            AND conversation_id IN ({marks(conversation_ids)})""",
        conversation_ids,
    )
    insert_links(index, rows)


def insert_links(index: Index, rows: Iterable[LinkRow]) -> None:
    index.executemany(
        """INSERT INTO matches (subject, conversation_id, message_id, digest, ref_id, strategy,
                                association, confidence, detail)
           VALUES ('conversation', ?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )
