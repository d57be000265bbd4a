"""What to write: one plan per conversation, from a few bulk queries per chunk.

A plan says which folder a conversation gets, which files go into its `media/` folder
under which names, which references are still unresolved, and a fingerprint of all of
that plus the conversation's content hash and the renderer's version. The fingerprint is
what makes re-exports incremental: a conversation whose fingerprint equals the last run's
is not touched.

Folder names are `YYYY-MM-DD_<title slug>_<short id>`. When two conversations would get
the same name (compared case-insensitively), the one that already has it in the export
keeps it and the other gets a hash of its id appended; among newcomers the smaller id
wins. So names never change because some other conversation arrived.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mediasyncd.export import naming
from mediasyncd.export.model import (
    ConversationPlan,
    ConversationSummary,
    Link,
    MediaFile,
    MissingRef,
)
from mediasyncd.index import Index
from mediasyncd.index import export as export_db
from mediasyncd.store.digest import digest_bytes

CHUNK: Final = 400
_NOWHERE: Final = 1 << 62  # sorts conversation-level files after every message


def load_summaries(index: Index) -> list[ConversationSummary]:
    """Every conversation the index has, in id order."""
    return [
        ConversationSummary(
            id=str(row[0]),
            title=row[1] if isinstance(row[1], str) else None,
            create_time=_float(row[2]),
            update_time=_float(row[3]),
            message_count=int(row[4] or 0),
            content_hash=str(row[5]),
            model=row[6] if isinstance(row[6], str) else None,
        )
        for row in export_db.conversation_summaries(index)
    ]


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def assign_folders(
    summaries: Sequence[ConversationSummary], previous: Mapping[str, str]
) -> dict[str, str]:
    """Conversation id -> folder name, unique (case-insensitively) across the export.

    `previous` is the last export's assignment: a conversation whose wanted name is the
    one it already has keeps it, and no other conversation is given a folder that an
    existing conversation still occupies.
    """
    wanted = {s.id: naming.folder_name(s.id, s.title, s.create_time) for s in summaries}
    assigned: dict[str, str] = {}
    taken: set[str] = set()
    # Keepers first: the name they want is the name they have (maybe with the hash tag).
    for summary in summaries:
        old = previous.get(summary.id)
        if old is None:
            continue
        keeps = old == wanted[summary.id] or old.startswith(_disambiguated(summary))
        if keeps and old.casefold() not in taken:
            assigned[summary.id] = old
            taken.add(old.casefold())
    # A folder another existing conversation still occupies is not handed out either,
    # even when that one is about to move (its title changed): it may not be rewritten
    # in this run (filters), and its old folder is removed only after its new one lands.
    ids = {s.id for s in summaries}
    taken |= {old.casefold() for cid, old in previous.items() if cid in ids}
    for summary in summaries:
        if summary.id in assigned:
            continue
        name = wanted[summary.id]
        if name.casefold() in taken:
            name = _disambiguated(summary)
            counter = 2
            base = name
            while name.casefold() in taken:
                name = f"{base}-{counter}"
                counter += 1
        assigned[summary.id] = name
        taken.add(name.casefold())
    return assigned


def _disambiguated(summary: ConversationSummary) -> str:
    return naming.folder_name(summary.id, summary.title, summary.create_time, disambiguate=True)


@dataclass
class _Row:
    message_id: str | None
    digest: str
    strategy: str
    association: str
    confidence: float
    ref_kind: str | None
    extra: dict[str, Any]
    size: int
    mime: str
    kind: str
    position: int | None


def build_plans(
    index: Index,
    summaries: Sequence[ConversationSummary],
    folders: Mapping[str, str],
    salt: str,
) -> Iterator[ConversationPlan]:
    """Plans for `summaries`, in their order, a chunk of conversations per few queries."""
    for start in range(0, len(summaries), CHUNK):
        chunk = summaries[start : start + CHUNK]
        ids = [s.id for s in chunk]
        rows = _link_rows(index, ids)
        missing = _missing_refs(index, ids)
        digests = sorted({r.digest for found in rows.values() for r in found})
        names = best_names(index, digests)
        for summary in chunk:
            yield plan_conversation(
                summary,
                folders[summary.id],
                rows.get(summary.id, []),
                missing.get(summary.id, []),
                names,
                salt,
            )


def _extra(text: Any) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _link_rows(index: Index, ids: Sequence[str]) -> dict[str, list[_Row]]:
    out: dict[str, list[_Row]] = {}
    for row in export_db.link_rows(index, ids):
        out.setdefault(str(row[0]), []).append(
            _Row(
                message_id=row[1],
                digest=str(row[2]),
                strategy=str(row[3]),
                association=str(row[4]),
                confidence=float(row[5]),
                ref_kind=row[6],
                extra=_extra(row[7]),
                size=int(row[8] or 0),
                mime=str(row[9] or "application/octet-stream"),
                kind=str(row[10] or "data"),
                position=None if row[11] is None else int(row[11]),
            )
        )
    return out


def _missing_refs(index: Index, ids: Sequence[str]) -> dict[str, list[MissingRef]]:
    out: dict[str, list[MissingRef]] = {}
    seen: set[tuple[str, str | None, str, str]] = set()
    for row in export_db.missing_ref_rows(index, ids):
        conversation_id, message_id, kind, key = str(row[0]), row[1], str(row[2]), str(row[3])
        slot = (conversation_id, message_id, kind, key)
        if slot in seen:
            continue
        seen.add(slot)
        extra = _extra(row[4])
        association = extra.get("association")
        out.setdefault(conversation_id, []).append(
            MissingRef(
                message_id=message_id,
                kind=kind,
                key=key,
                association=association
                if association in {"generated", "attachment", "inline"}
                else "inline",
                name=_text(extra.get("name")),
                prompt=_text(extra.get("prompt")),
                mime_type=_text(extra.get("mime_type")),
                position=None if row[5] is None else int(row[5]),
            )
        )
    for refs in out.values():
        refs.sort(key=lambda r: (_NOWHERE if r.position is None else r.position, r.kind, r.key))
    return out


def best_names(index: Index, digests: Sequence[str]) -> dict[str, str]:
    """Digest -> the most readable name any occurrence gives it (unsanitised).

    Ranked: a name from where the file was found with any `file-<id>-` prefix removed,
    then an original name from a map (`filename` keys, lower-cased by the reader), then a
    bare `file-<id>.png`. `.dat` names are not names.
    """
    ranked: dict[str, tuple[int, str, str]] = {}

    def offer(digest: str, rank: int, name: str) -> None:
        candidate = (rank, name.casefold(), name)
        current = ranked.get(digest)
        if current is None or candidate < current:
            ranked[digest] = candidate

    for start in range(0, len(digests), CHUNK):
        chunk = list(digests[start : start + CHUNK])
        for digest, member_name in export_db.member_names(index, chunk):
            found = naming.name_from_member(member_name)
            if found is not None:
                offer(digest, found[0], found[1])
        for digest, key in export_db.original_names(index, chunk):
            offer(digest, 2, key)
    return {digest: value[2] for digest, value in ranked.items()}


def plan_conversation(
    summary: ConversationSummary,
    folder: str,
    rows: Iterable[_Row],
    missing: list[MissingRef],
    names: Mapping[str, str],
    salt: str,
) -> ConversationPlan:
    by_digest: dict[str, list[_Row]] = {}
    for row in rows:
        by_digest.setdefault(row.digest, []).append(row)

    def first_seen(item: tuple[str, list[_Row]]) -> tuple[int, str]:
        positions = [r.position for r in item[1] if r.position is not None]
        return (min(positions) if positions else _NOWHERE, item[0])

    ordered = sorted(by_digest.items(), key=first_seen)
    files = [_media_file(digest, found, names) for digest, found in ordered]
    wanted = [(media.digest, media.name) for media in files]
    final = naming.unique_names(wanted)
    for media in files:
        media.name = final[media.digest]
    fingerprint = _fingerprint(summary, folder, files, missing, salt)
    return ConversationPlan(summary, folder, files, missing, fingerprint)


def _media_file(digest: str, found: list[_Row], names: Mapping[str, str]) -> MediaFile:
    """One file of the conversation with its links, in message order, and the name it
    wants: an attachment's own name, else the best one it was found under."""
    found.sort(key=lambda r: (_NOWHERE if r.position is None else r.position, r.message_id or ""))
    head = found[0]
    name = next(
        (
            safe
            for r in found
            if (safe := naming.safe_file_name(_text(r.extra.get("name")), head.mime))
        ),
        None,
    )
    name = (
        name
        or naming.safe_file_name(names.get(digest), head.mime)
        or naming.fallback_name(digest, head.mime)
    )
    return MediaFile(
        digest=digest,
        name=name,
        kind=head.kind,
        mime=head.mime,
        size=head.size,
        links=[
            Link(
                message_id=r.message_id,
                strategy=r.strategy,
                association=r.association,
                confidence=r.confidence,
                prompt=_text(r.extra.get("prompt")),
                ref_kind=r.ref_kind,
                position=r.position,
            )
            for r in found
        ],
    )


def _fingerprint(
    summary: ConversationSummary,
    folder: str,
    files: list[MediaFile],
    missing: list[MissingRef],
    salt: str,
) -> str:
    data = [
        salt,
        summary.id,
        summary.content_hash,
        folder,
        [
            [
                f.digest,
                f.name,
                f.kind,
                f.mime,
                f.size,
                [
                    [lk.message_id, lk.strategy, lk.association, lk.confidence, lk.prompt]
                    for lk in f.links
                ],
            ]
            for f in files
        ],
        [[m.message_id, m.kind, m.key, m.association, m.name, m.prompt] for m in missing],
    ]
    return digest_bytes(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"))
