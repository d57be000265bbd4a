"""Linking files to conversations and messages, strongest evidence first.

For one conversation the matcher reads its references and the files whose keys they
share, and decides every link (strategies and confidences in docs/architecture.md):
1. ids: pointer, attachment, code-interpreter image or library entry id == a file id;
   the rendered pages of an attached document (`document_page`) go with the message
   that attached it, without counting as the document or making its id ambiguous;
2. the conversation's own folder (privacy archive, voice folders): conversation-level,
   pinned to a message only when a unique size or a count of one pins it;
3. gen_id of a DALL·E generation folder;
4. size: an id-less generated image whose byte size exactly one generated-image pointer in
   the whole index has (formats.md: unique for 1,220 of 1,222 DALL·E files);
5. a file name mentioned in text: among files already in this conversation's scope, or
   a file nothing claims that exactly one conversation mentions (mentions.py); a weak
   clue never crosses conversations.
Results depend only on the index, never on the order things arrived, so an incremental
rematch of the affected conversations equals a full rematch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from mediasyncd.config import Config
from mediasyncd.conversations.mentions import (
    UNCLAIMED_CONFIDENCE,
    claim_bridge_sql,
    mentioned_in_one_conversation,
    unclaimed_files,
)
from mediasyncd.index import Index
from mediasyncd.matching import MatchDelta, SubjectMatcher

CHUNK: Final = 400

STRATEGY_BY_KIND: Final = {
    "attachment": "attachment",
    "code_interpreter_image": "code_interpreter",
    "library_file": "library_origin",
}
ID_CONFIDENCE: Final = {"name": 1.0, "folder": 1.0, "uuid_name": 0.95}
MAP_CONFIDENCE: Final = 0.98
LIBRARY_CONFIDENCE: Final = 0.95
PAGE_CONFIDENCE: Final = 0.95
DIR_CONFIDENCE: Final = 0.9
PINNED_CONFIDENCE: Final = 0.85
GEN_ID_CONFIDENCE: Final = 0.9
SIZE_CONFIDENCE: Final = 0.7
MENTION_CONFIDENCE: Final = 0.4
# Keys whose change can alter a conversation's links.
KEY_KINDS: Final = ("file_id", "conversation_dir", "filename", "size", "gen_id")


@dataclass(frozen=True)
class Link:
    conversation_id: str
    message_id: str | None
    digest: str
    ref_id: int | None
    strategy: str
    association: str
    confidence: float
    detail: str | None = None

    def row(self) -> tuple[Any, ...]:
        return (
            self.conversation_id,
            self.message_id,
            self.digest,
            self.ref_id,
            self.strategy,
            self.association,
            round(self.confidence, 4),
            self.detail,
        )


@dataclass
class _Ref:
    id: int
    message_id: str | None
    kind: str
    key_kind: str
    key: str
    extra: dict[str, Any]
    more_keys: list[tuple[str, str]] = field(default_factory=list)

    @property
    def association(self) -> str:
        value = self.extra.get("association")
        return value if value in {"generated", "attachment", "inline"} else "inline"

    @property
    def is_generated_image(self) -> bool:
        return self.association == "generated" and self.kind in {
            "image_asset_pointer",
            "code_interpreter_image",
        }


class ConversationMatcher(SubjectMatcher):
    subject = "conversation"

    def __init__(self, config: Config):
        super().__init__(config)
        self.text_mentions = config.matching.text_mentions

    # -- which conversations a change touches ------------------------------------------

    def affected(self, index: Index, keys: Iterable[tuple[str, str]]) -> set[str]:
        wanted = sorted({(k, v) for k, v in keys if k in KEY_KINDS})
        if not wanted:
            return set()
        conn = index.conn
        # A uuid folder is a conversation only if the index knows that conversation (a
        # code-interpreter session folder is a uuid too).
        ids: set[str] = {
            v
            for k, v in wanted
            if k == "conversation_dir"
            and (
                conn.execute("SELECT 1 FROM conversations WHERE id = ?", (v,)).fetchone()
                or conn.execute(
                    "SELECT 1 FROM refs WHERE conversation_id = ? LIMIT 1", (v,)
                ).fetchone()
            )
        }
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _changed_keys (key_kind TEXT, key TEXT)")
        conn.execute("DELETE FROM _changed_keys")
        conn.executemany("INSERT INTO _changed_keys VALUES (?, ?)", wanted)
        # A changed claim on a file (an id a reference names, a folder, …) changes the
        # mention links of every conversation that names any copy of that file.
        bridge = f"UNION {claim_bridge_sql('_changed_keys')}" if self.text_mentions else ""
        for (conversation_id,) in conn.execute(
            f"""SELECT DISTINCT r.conversation_id FROM _changed_keys c
               JOIN refs r ON r.key_kind = c.key_kind AND r.key = c.key
               WHERE r.subject = 'conversation'
               UNION
               SELECT DISTINCT r.conversation_id FROM _changed_keys c
               JOIN ref_keys k ON k.key_kind = c.key_kind AND k.key = c.key
               JOIN refs r ON r.id = k.ref_id WHERE r.subject = 'conversation'
               {bridge}"""
        ):
            if conversation_id:
                ids.add(str(conversation_id))
        conn.execute("DELETE FROM _changed_keys")
        return ids

    # -- recomputing ---------------------------------------------------------------------

    def all_ids(self, index: Index) -> set[str]:
        ids = {str(r[0]) for r in index.execute("SELECT id FROM conversations")}
        ids |= {
            str(r[0])
            for r in index.execute(
                "SELECT DISTINCT conversation_id FROM refs "
                "WHERE subject = 'conversation' AND conversation_id IS NOT NULL"
            )
        }
        return ids

    def rematch(self, index: Index, ids: set[str] | None) -> MatchDelta:
        targets = sorted(self.all_ids(index) if ids is None else ids)
        delta = MatchDelta()
        with index.write():
            if ids is None:
                # A full rematch also drops links of conversations that no longer exist.
                stale = index.execute(
                    "SELECT COUNT(*) FROM matches WHERE subject = 'conversation'"
                ).fetchone()[0]
                index.execute("DELETE FROM matches WHERE subject = 'conversation'")
                index.execute("DELETE FROM resolved_refs")
                delta.removed += int(stale)
                old_rows: set[tuple[Any, ...]] = set()
            for start in range(0, len(targets), CHUNK):
                chunk = targets[start : start + CHUNK]
                if ids is not None:
                    old_rows = self._current(index, chunk)
                new_rows: set[tuple[Any, ...]] = set()
                resolved: list[tuple[int, str]] = []
                for conversation_id in chunk:
                    links, refs = self._compute(index, conversation_id)
                    new_rows.update(link.row() for link in links)
                    kept = {link.ref_id for link in links}
                    resolved.extend((r, conversation_id) for r in sorted(refs - kept))
                self._record_resolved(index, chunk, resolved, full=ids is None)
                if ids is not None:
                    self._replace(index, chunk, new_rows)
                    delta.added += len(new_rows - old_rows)
                    delta.removed += len(old_rows - new_rows)
                else:
                    self._insert(index, new_rows)
                    delta.added += len(new_rows)
                delta.recomputed += len(chunk)
        if ids is None:
            # In a full rematch every link was removed and re-added: report the net change.
            net = min(delta.added, delta.removed)
            delta.added -= net
            delta.removed -= net
        return delta

    def _current(self, index: Index, chunk: list[str]) -> set[tuple[Any, ...]]:
        marks = ", ".join("?" for _ in chunk)
        return {
            tuple(row)
            for row in index.execute(
                f"""SELECT conversation_id, message_id, digest, ref_id, strategy, association,
                           confidence, detail
                    FROM matches WHERE subject = 'conversation' AND conversation_id IN ({marks})""",
                chunk,
            )
        }

    def _record_resolved(
        self, index: Index, chunk: list[str], resolved: list[tuple[int, str]], *, full: bool
    ) -> None:
        """References resolved by a link whose row names another reference of the message."""
        if not full:
            marks = ", ".join("?" for _ in chunk)
            index.execute(f"DELETE FROM resolved_refs WHERE conversation_id IN ({marks})", chunk)
        index.conn.executemany(
            "INSERT OR REPLACE INTO resolved_refs (ref_id, conversation_id) VALUES (?, ?)",
            resolved,
        )

    def _replace(self, index: Index, chunk: list[str], rows: set[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" for _ in chunk)
        index.execute(
            f"DELETE FROM matches WHERE subject = 'conversation' AND conversation_id IN ({marks})",
            chunk,
        )
        self._insert(index, rows)

    def _insert(self, index: Index, rows: set[tuple[Any, ...]]) -> None:
        ordered: list[tuple[Any, ...]] = sorted(
            rows, key=lambda r: tuple("" if v is None else str(v) for v in r)
        )
        index.conn.executemany(
            """INSERT INTO matches (subject, conversation_id, message_id, digest, ref_id, strategy,
                                    association, confidence, detail)
               VALUES ('conversation', ?, ?, ?, ?, ?, ?, ?, ?)""",
            ordered,
        )

    # -- one conversation ----------------------------------------------------------------

    def links_for(self, index: Index, conversation_id: str) -> list[Link]:
        return self._compute(index, conversation_id)[0]

    def _compute(self, index: Index, conversation_id: str) -> tuple[list[Link], set[int]]:
        """The conversation's links, and every reference that some file satisfied."""
        refs = self._refs(index, conversation_id)
        known = (
            index.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            is not None
        )
        links: list[Link] = []
        resolved: set[int] = set()

        for ref in refs:
            if ref.key_kind != "file_id":
                continue
            found = self._digests_for_key(index, "file_id", ref.key)
            links.extend(self._page_links(conversation_id, ref, found))
            candidates = [(d, via) for d, via in found if via != "document_page"]
            if not candidates:
                continue
            resolved.add(ref.id)
            strategy = STRATEGY_BY_KIND.get(ref.kind, "asset_pointer")
            ambiguous = len(candidates) > 1
            for digest, provenance in candidates:
                if strategy == "library_origin":
                    confidence = LIBRARY_CONFIDENCE
                elif provenance in ID_CONFIDENCE:
                    confidence = ID_CONFIDENCE[provenance]
                else:
                    confidence = MAP_CONFIDENCE
                detail: dict[str, Any] = {"key": ref.key, "via": provenance}
                if ambiguous:
                    confidence *= 0.9
                    detail["ambiguous_file_id"] = len(candidates)
                links.extend(
                    self._ref_links(conversation_id, ref, digest, strategy, confidence, detail)
                )

        if known or refs:
            links.extend(self._folder_links(index, conversation_id, refs, resolved, links))

        for ref in refs:
            if ref.id in resolved or not ref.is_generated_image:
                continue
            for kind, key in ref.more_keys:
                if kind != "gen_id":
                    continue
                digests = self._digests_for_key(index, "gen_id", key)
                if len(digests) == 1:
                    resolved.add(ref.id)
                    links.extend(
                        self._ref_links(
                            conversation_id,
                            ref,
                            digests[0][0],
                            "gen_id",
                            GEN_ID_CONFIDENCE,
                            {"gen_id": key},
                        )
                    )
                    break

        for ref in refs:
            if ref.id in resolved or not ref.is_generated_image:
                continue
            size = next((key for kind, key in ref.more_keys if kind == "size"), None)
            if size is None:
                continue
            digests = self._digests_for_key(index, "size", size)
            competing = index.execute(
                "SELECT COUNT(*) FROM ref_keys WHERE key_kind = 'size' AND key = ?", (size,)
            ).fetchone()[0]
            if len(digests) == 1 and competing == 1:
                resolved.add(ref.id)
                links.extend(
                    self._ref_links(
                        conversation_id,
                        ref,
                        digests[0][0],
                        "size",
                        SIZE_CONFIDENCE,
                        {"size_bytes": int(size)},
                    )
                )

        if self.text_mentions:
            links.extend(self._mention_links(index, conversation_id, refs, links))
        satisfied = {link.ref_id for link in links if link.ref_id is not None}
        return _strongest(links), satisfied

    def _ref_links(
        self,
        conversation_id: str,
        ref: _Ref,
        digest: str,
        strategy: str,
        confidence: float,
        detail: dict[str, Any],
    ) -> list[Link]:
        text = json.dumps(detail, sort_keys=True)
        links = [
            Link(
                conversation_id,
                ref.message_id,
                digest,
                ref.id,
                strategy,
                ref.association,
                confidence,
                text,
            )
        ]
        following = ref.extra.get("following_message_id")
        if ref.association == "generated" and isinstance(following, str) and following:
            links.append(
                Link(
                    conversation_id,
                    following,
                    digest,
                    ref.id,
                    strategy,
                    ref.association,
                    confidence,
                    text,
                )
            )
        return links

    def _page_links(
        self, conversation_id: str, ref: _Ref, found: list[tuple[str, str]]
    ) -> list[Link]:
        """Rendered pages of the document a reference names: with the message, as an
        attachment, but naming no reference (the document itself may still be missing)."""
        detail = json.dumps({"document": ref.key, "via": "document_page"}, sort_keys=True)
        return [
            Link(
                conversation_id,
                ref.message_id,
                digest,
                None,
                "document_page",
                "attachment",
                PAGE_CONFIDENCE,
                detail,
            )
            for digest, via in found
            if via == "document_page"
        ]

    def _folder_links(
        self,
        index: Index,
        conversation_id: str,
        refs: list[_Ref],
        resolved: set[int],
        links: list[Link],
    ) -> list[Link]:
        files = index.execute(
            """SELECT DISTINCT o.digest, b.size, b.kind, MIN(o.member)
               FROM occurrence_keys k JOIN occurrences o ON o.id = k.occurrence_id
               JOIN blobs b ON b.digest = o.digest
               WHERE k.key_kind = 'conversation_dir' AND k.key = ? AND o.role = 'media'
               GROUP BY o.digest ORDER BY o.digest""",
            (conversation_id,),
        ).fetchall()
        if not files:
            return []
        linked = {link.digest for link in links if link.message_id is not None}
        free = [(str(d), int(s), str(k), str(m)) for d, s, k, m in files if d not in linked]
        out: list[Link] = []
        open_refs = [r for r in refs if r.id not in resolved and r.is_generated_image]
        pinned: set[str] = set()

        def pin(ref: _Ref, digest: str, by: str) -> None:
            pinned.add(digest)
            resolved.add(ref.id)
            out.extend(
                self._ref_links(
                    conversation_id,
                    ref,
                    digest,
                    "conversation_dir",
                    PINNED_CONFIDENCE,
                    {"pinned_by": by},
                )
            )

        for ref in open_refs:
            size = ref.extra.get("size_bytes")
            same = [f for f in free if f[1] == size and f[0] not in pinned]
            if isinstance(size, int) and len(same) == 1:
                pin(ref, same[0][0], "size")
        remaining_refs = [r for r in open_refs if r.id not in resolved]
        # A count pins only the DALL·E archive's images: a lone sandbox chart in the same
        # folder is not evidence about a generated image.
        remaining_images = [
            f
            for f in free
            if f[0] not in pinned and f[2] == "image" and _folder_association(f[3]) == "generated"
        ]
        if len(remaining_refs) == 1 and len(remaining_images) == 1:
            pin(remaining_refs[0], remaining_images[0][0], "count")
        for digest, _size, _kind, member in free:
            if digest in pinned:
                continue
            out.append(
                Link(
                    conversation_id,
                    None,
                    digest,
                    None,
                    "conversation_dir",
                    _folder_association(member),
                    DIR_CONFIDENCE,
                    json.dumps({"folder": conversation_id}),
                )
            )
        return out

    def _mention_links(
        self, index: Index, conversation_id: str, refs: list[_Ref], links: list[Link]
    ) -> list[Link]:
        mentions = [r for r in refs if r.kind == "text_mention"]
        if not mentions:
            return []
        names = self._scope_names(index, links)
        out: list[Link] = []
        for ref in mentions:
            scoped = names.get(ref.key)
            if scoped:
                confidence = MENTION_CONFIDENCE
                digests = sorted(scoped)
            else:
                # Not tied to this conversation: only a file nothing claims, named in no
                # other conversation (mentions.py).
                confidence = UNCLAIMED_CONFIDENCE
                digests = unclaimed_files(index, ref.key)
                if not digests or not mentioned_in_one_conversation(index, ref.key):
                    continue
            out.extend(
                Link(
                    conversation_id,
                    ref.message_id,
                    digest,
                    ref.id,
                    "text_mention",
                    "inline",
                    confidence,
                    json.dumps({"name": ref.key}),
                )
                for digest in digests
            )
        return out

    def _scope_names(self, index: Index, links: list[Link]) -> dict[str, list[str]]:
        """name -> digests, for the files already linked to this conversation."""
        scope = sorted({link.digest for link in links})
        if not scope:
            return {}
        marks = ", ".join("?" for _ in scope)
        names: dict[str, list[str]] = {}
        # CROSS JOIN keeps SQLite starting from these few digests (occurrences_digest, then
        # occurrence_keys_occurrence); left to itself it walks every filename key of the
        # index for each conversation.
        rows = index.execute(
            f"""SELECT DISTINCT o.digest, k.key FROM occurrences o
                CROSS JOIN occurrence_keys k ON k.occurrence_id = o.id
                WHERE k.key_kind = 'filename' AND o.digest IN ({marks})""",
            list(scope),
        ).fetchall()
        for digest, key in rows:
            names.setdefault(str(key), []).append(str(digest))
        return names

    # -- queries -------------------------------------------------------------------------

    def _refs(self, index: Index, conversation_id: str) -> list[_Ref]:
        rows = index.execute(
            """SELECT id, message_id, kind, key_kind, key, extra FROM refs
               WHERE subject = 'conversation' AND conversation_id = ? ORDER BY id""",
            (conversation_id,),
        ).fetchall()
        refs = [
            _Ref(int(r[0]), r[1], str(r[2]), str(r[3]), str(r[4]), json.loads(r[5]) if r[5] else {})
            for r in rows
        ]
        if refs:
            by_id = {r.id: r for r in refs}
            marks = ", ".join("?" for _ in by_id)
            for ref_id, kind, key in index.execute(
                f"SELECT ref_id, key_kind, key FROM ref_keys WHERE ref_id IN ({marks}) "
                "ORDER BY ref_id, key_kind, key",
                list(by_id),
            ):
                by_id[int(ref_id)].more_keys.append((str(kind), str(key)))
        return refs

    def _digests_for_key(self, index: Index, kind: str, key: str) -> list[tuple[str, str]]:
        """Distinct media digests with this key, each with its strongest provenance."""
        best: dict[str, str] = {}
        for digest, extra in index.execute(
            """SELECT o.digest, k.extra FROM occurrence_keys k
               JOIN occurrences o ON o.id = k.occurrence_id
               WHERE k.key_kind = ? AND k.key = ? AND o.role = 'media'""",
            (kind, key),
        ):
            provenance = str(extra or "name")
            current = best.get(str(digest))
            if current is None or _provenance_rank(provenance) < _provenance_rank(current):
                best[str(digest)] = provenance
        return sorted(best.items())


def _provenance_rank(provenance: str) -> int:
    order = ["name", "folder", "uuid_name", "dat_map", "assets_json", "document_page"]
    return order.index(provenance) if provenance in order else len(order)


def _folder_association(member: str) -> str:
    """DALL·E archive files are generated; anything else in a conversation's folder (voice
    clips, code-interpreter sandbox files) is content of the conversation: inline. An
    attachment needs an upload record, which a folder alone does not give."""
    lowered = member.lower()
    if "/dallelabs/" in lowered or "dall-e__" in lowered:
        return "generated"
    return "inline"


def _strongest(links: list[Link]) -> list[Link]:
    """One link per (message, digest), the most confident; no conversation-level duplicate."""
    best: dict[tuple[str | None, str], Link] = {}
    for link in links:
        slot = (link.message_id, link.digest)
        current = best.get(slot)
        if current is None or (link.confidence, link.strategy) > (
            current.confidence,
            current.strategy,
        ):
            best[slot] = link
    message_level = {digest for (message, digest) in best if message is not None}
    return [
        link
        for (message, digest), link in sorted(
            best.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])
        )
        if message is not None or digest not in message_level
    ]


MATCHERS = [ConversationMatcher]
