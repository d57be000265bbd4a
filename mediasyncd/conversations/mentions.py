"""File names mentioned in message text: the weakest evidence, and never across conversations.

Two rules, both only with `matching.text_mentions`:
1. A mention of a file already tied to the conversation (by a pointer, its folder, …)
   links that file to the mentioning message (confidence 0.4; the matcher does this).
2. A file that nothing claims, whose exact name (compared without regard to case) is
   mentioned in exactly one conversation, links to each message of that conversation
   that mentions it (`UNCLAIMED_CONFIDENCE`). Older exports hold such files at their
   root with no pointer at all (`budget_1234.pdf`, "I uploaded budget_1234.pdf
   earlier"). Named in two or more conversations, it links to none of them, and
   `unresolved` lists each of those mentions as an `ambiguous_mention`.

A file is claimed when any copy of it (any occurrence of its digest) has a file id that a
conversation's reference names (pointer, attachment, code-interpreter image, library
entry), sits in a conversation's folder, or is a generated image known by its generation
folder or its size. Claims depend on every conversation, so the keys that can change them
are handed to the matcher's `affected` (see `claim_bridge_sql`).
"""

from __future__ import annotations

from typing import Final

from mediasyncd.index import Index

UNCLAIMED_CONFIDENCE: Final = 0.3
# Keys through which a file is claimed, besides a file id some reference names.
CLAIMING_KEY_KINDS: Final = ("conversation_dir", "gen_id", "size")


def unclaimed_sql(digest_expr: str) -> str:
    """SQL that is true when no copy of the file `digest_expr` is claimed."""
    kinds = ", ".join(f"'{kind}'" for kind in CLAIMING_KEY_KINDS)
    return f"""NOT EXISTS (
        SELECT 1 FROM occurrences c JOIN occurrence_keys ck ON ck.occurrence_id = c.id
        WHERE c.digest = {digest_expr} AND (
            ck.key_kind IN ({kinds})
            OR (ck.key_kind = 'file_id' AND EXISTS (
                SELECT 1 FROM refs cr WHERE cr.key_kind = 'file_id' AND cr.key = ck.key
                AND cr.subject = 'conversation'))))"""


def mentioned_in_sql(name_expr: str) -> str:
    """SQL for how many conversations mention `name_expr` (counting stops at 2)."""
    # `+mr.kind` keeps SQLite on refs_lookup (this name) instead of refs_kind (every mention).
    return f"""(SELECT COUNT(*) FROM (
        SELECT DISTINCT mr.conversation_id FROM refs mr
        WHERE mr.key_kind = 'filename' AND mr.key = {name_expr} AND +mr.kind = 'text_mention'
        AND mr.subject = 'conversation' LIMIT 2))"""


def unclaimed_exists_sql(name_expr: str) -> str:
    """SQL that is true when some unclaimed media file is named `name_expr`."""
    return f"""EXISTS (
        SELECT 1 FROM occurrence_keys nk JOIN occurrences n ON n.id = nk.occurrence_id
        WHERE nk.key_kind = 'filename' AND nk.key = {name_expr} AND n.role = 'media'
        AND {unclaimed_sql("n.digest")})"""


def ambiguous_mention_sql(ref_alias: str) -> str:
    """SQL that is true for a text mention whose name an unclaimed file has, mentioned in
    two or more conversations: the candidate `unresolved` lists."""
    name = f"{ref_alias}.key"
    return (
        f"({ref_alias}.kind = 'text_mention' AND {unclaimed_exists_sql(name)} "
        f"AND {mentioned_in_sql(name)} >= 2)"
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
    return int(index.scalar(f"SELECT {mentioned_in_sql('?')}", (name,)) or 0) == 1


def claim_bridge_sql(changed_table: str) -> str:
    """SQL for the conversations whose mention links may change when the keys in
    `changed_table` (key_kind, key) change: a key that can claim a file leads to every
    copy of that file, to their names, to the conversations mentioning those names."""
    kinds = ", ".join(f"'{kind}'" for kind in ("file_id", *CLAIMING_KEY_KINDS))
    # CROSS JOIN fixes the order (changed key, its files, their copies, their names, the
    # mentions): left to itself SQLite pairs every filename key with every file id key;
    # `+r.kind` keeps it on refs_lookup rather than every mention through refs_kind.
    return f"""SELECT DISTINCT r.conversation_id FROM {changed_table} c
        CROSS JOIN occurrence_keys k1 ON k1.key_kind = c.key_kind AND k1.key = c.key
        CROSS JOIN occurrences o1 ON o1.id = k1.occurrence_id
        CROSS JOIN occurrences o2 ON o2.digest = o1.digest
        CROSS JOIN occurrence_keys k2 ON k2.occurrence_id = o2.id AND k2.key_kind = 'filename'
        CROSS JOIN refs r ON r.key_kind = 'filename' AND r.key = k2.key
        WHERE c.key_kind IN ({kinds}) AND +r.kind = 'text_mention'
        AND r.subject = 'conversation'"""
