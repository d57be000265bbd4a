"""Linking files to conversations and messages, strongest evidence first.

For one conversation the matcher reads its references and the files whose keys they
share, and decides every link (strategies and confidences in docs/architecture.md, "Matching"):
1. ids: pointer, attachment, code-interpreter image or library entry id == a file id;
   the rendered pages of an attached document (`document_page`) go with the message
   that attached it, without counting as the document or making its id ambiguous;
2. the conversation's own folder (privacy archive, voice folders): conversation-level,
   pinned to a message only when a unique size or a count of one pins it;
3. gen_id of a DALL·E generation folder;
4. size: an id-less generated image whose byte size exactly one generated-image pointer in
   the whole index has (almost always unique for DALL·E images: docs/formats.md, section 4);
5. a file name mentioned in text: among files already in this conversation's scope, or
   a file nothing claims that exactly one conversation mentions (mentions.py); a weak
   clue never crosses conversations.
Results depend only on the index, never on the order things arrived, so an incremental
rematch of the affected conversations equals a full rematch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from mediasyncd import faults
from mediasyncd.config import Config
from mediasyncd.conversations.mentions import UNCLAIMED_CONFIDENCE
from mediasyncd.index import Index, advisory
from mediasyncd.index import conversation_links as links_db
from mediasyncd.index.conversation_links import RefRecord
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


def _association(ref: RefRecord) -> str:
    value = ref.extra.get("association")
    return value if value in {"generated", "attachment", "inline"} else "inline"


def _is_generated_image(ref: RefRecord) -> bool:
    return _association(ref) == "generated" and ref.kind in {
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
        # A uuid folder is a conversation only if the index knows that conversation (a
        # code-interpreter session folder is a uuid too).
        ids: set[str] = {
            v for k, v in wanted if k == "conversation_dir" and links_db.is_conversation(index, v)
        }
        # A changed claim on a file (an id a reference names, a folder, …) changes the
        # mention links of every conversation that names any copy of that file.
        return ids | links_db.conversations_using(index, wanted, through_claims=self.text_mentions)

    # -- recomputing ---------------------------------------------------------------------

    def all_ids(self, index: Index) -> set[str]:
        return links_db.all_conversation_ids(index)

    def rematch(self, index: Index, ids: set[str] | None) -> MatchDelta:
        delta = MatchDelta()
        with index.write():
            # Other workers wait for these conversations until the links commit; a full
            # rematch reads which there are only then, so none added meanwhile is missed.
            advisory.lock_subjects(index, self.subject, ids)
            targets = sorted(self.all_ids(index) if ids is None else ids)
            if ids is None:
                # A full rematch also drops links of conversations that no longer exist.
                delta.removed += links_db.remove_all_links(index)
                old_rows: set[tuple[Any, ...]] = set()
            for start in range(0, len(targets), CHUNK):
                chunk = targets[start : start + CHUNK]
                if ids is not None:
                    old_rows = links_db.links_of(index, chunk)
                new_rows: set[tuple[Any, ...]] = set()
                resolved: list[tuple[int, str]] = []
                evidence = links_db.evidence_of(index, chunk)
                for conversation_id in chunk:
                    links, refs = self._compute(index, conversation_id, evidence)
                    new_rows.update(link.row() for link in links)
                    kept = {link.ref_id for link in links}
                    resolved.extend((r, conversation_id) for r in sorted(refs - kept))
                # Computed, not yet written: where a worker without the subject locks would
                # let another's newer links in, then overwrite them with what it read.
                faults.point("rematch.before_write")
                links_db.record_resolved(index, chunk, resolved, full=ids is None)
                if ids is not None:
                    links_db.replace_links(index, chunk, _ordered(new_rows))
                    delta.added += len(new_rows - old_rows)
                    delta.removed += len(old_rows - new_rows)
                else:
                    links_db.insert_links(index, _ordered(new_rows))
                    delta.added += len(new_rows)
                delta.recomputed += len(chunk)
        if ids is None:
            # In a full rematch every link was removed and re-added: report the net change.
            net = min(delta.added, delta.removed)
            delta.added -= net
            delta.removed -= net
        return delta

    # -- one conversation ----------------------------------------------------------------

    def _compute(
        self, index: Index, conversation_id: str, evidence: links_db.ChunkEvidence
    ) -> tuple[list[Link], set[int]]:
        """The conversation's links, and every reference that some file satisfied."""
        refs = evidence.refs.get(conversation_id, [])
        links: list[Link] = []
        resolved: set[int] = set()
        for ref in refs:
            if ref.key_kind == "file_id":
                found = self._best_provenance(evidence.media_by_file_id.get(ref.key, []))
                links.extend(self._id_links(conversation_id, ref, found, resolved))
        if conversation_id in evidence.known or refs:
            files = evidence.folders.get(conversation_id, [])
            links.extend(self._folder_links(conversation_id, files, refs, resolved, links))
        for ref in refs:
            if ref.id not in resolved and _is_generated_image(ref):
                links.extend(self._gen_id_links(index, conversation_id, ref, resolved))
        for ref in refs:
            if ref.id not in resolved and _is_generated_image(ref):
                links.extend(self._size_links(index, conversation_id, ref, resolved))
        if self.text_mentions:
            links.extend(self._mention_links(index, conversation_id, refs, links))
        satisfied = {link.ref_id for link in links if link.ref_id is not None}
        return _strongest(links), satisfied

    def _id_links(
        self,
        conversation_id: str,
        ref: RefRecord,
        found: list[tuple[str, str]],
        resolved: set[int],
    ) -> list[Link]:
        """The files whose id the reference names (`found`: each with its strongest
        provenance), and the rendered pages of a document."""
        links = self._page_links(conversation_id, ref, found)
        candidates = [(d, via) for d, via in found if via != "document_page"]
        if not candidates:
            return links
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
        return links

    def _gen_id_links(
        self, index: Index, conversation_id: str, ref: RefRecord, resolved: set[int]
    ) -> list[Link]:
        """The one file of the DALL·E generation folder the reference's gen_id names."""
        for kind, key in ref.more_keys:
            if kind != "gen_id":
                continue
            digests = self._digests_for_key(index, "gen_id", key)
            if len(digests) == 1:
                resolved.add(ref.id)
                detail = {"gen_id": key}
                return self._ref_links(
                    conversation_id, ref, digests[0][0], "gen_id", GEN_ID_CONFIDENCE, detail
                )
        return []

    def _size_links(
        self, index: Index, conversation_id: str, ref: RefRecord, resolved: set[int]
    ) -> list[Link]:
        """An id-less generated image whose byte size one file and, in the whole index,
        one reference have."""
        size = next((key for kind, key in ref.more_keys if kind == "size"), None)
        if size is None:
            return []
        digests = self._digests_for_key(index, "size", size)
        if len(digests) != 1 or links_db.size_claims(index, size) != 1:
            return []
        resolved.add(ref.id)
        detail = {"size_bytes": int(size)}
        return self._ref_links(conversation_id, ref, digests[0][0], "size", SIZE_CONFIDENCE, detail)

    def _ref_links(
        self,
        conversation_id: str,
        ref: RefRecord,
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
                _association(ref),
                confidence,
                text,
            )
        ]
        following = ref.extra.get("following_message_id")
        if _association(ref) == "generated" and isinstance(following, str) and following:
            links.append(
                Link(
                    conversation_id,
                    following,
                    digest,
                    ref.id,
                    strategy,
                    _association(ref),
                    confidence,
                    text,
                )
            )
        return links

    def _page_links(
        self, conversation_id: str, ref: RefRecord, found: list[tuple[str, str]]
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
        conversation_id: str,
        files: list[links_db.FolderFile],
        refs: list[RefRecord],
        resolved: set[int],
        links: list[Link],
    ) -> list[Link]:
        """The media of the conversation's own folder (`files`): pinned to a
        generated-image reference when a size or a count of one says which, else
        conversation-level."""
        if not files:
            return []
        linked = {link.digest for link in links if link.message_id is not None}
        free = [f for f in files if f[0] not in linked]
        out = self._pinned_links(conversation_id, refs, resolved, free)
        pinned = {link.digest for link in out}
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

    def _pinned_links(
        self,
        conversation_id: str,
        refs: list[RefRecord],
        resolved: set[int],
        free: list[tuple[str, int, str, str]],
    ) -> list[Link]:
        """Folder files pinned to an open generated-image reference: by a size only one
        file has, or when one reference and one generated image are left."""
        out: list[Link] = []
        open_refs = [r for r in refs if r.id not in resolved and _is_generated_image(r)]
        pinned: set[str] = set()

        def pin(ref: RefRecord, digest: str, by: str) -> None:
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
        return out

    def _mention_links(
        self, index: Index, conversation_id: str, refs: list[RefRecord], links: list[Link]
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
                digests = links_db.unclaimed_files(index, ref.key)
                if not digests or not links_db.mentioned_in_one_conversation(index, ref.key):
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
        names: dict[str, list[str]] = {}
        for digest, key in links_db.names_of(index, scope):
            names.setdefault(key, []).append(digest)
        return names

    def _digests_for_key(self, index: Index, kind: str, key: str) -> list[tuple[str, str]]:
        """Distinct media digests with this key, each with its strongest provenance."""
        return self._best_provenance(links_db.media_with_key(index, kind, key))

    @staticmethod
    def _best_provenance(found: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
        """Distinct digests of (digest, provenance) rows, each with its strongest."""
        best: dict[str, str] = {}
        for digest, extra in found:
            provenance = str(extra or "name")
            current = best.get(digest)
            if current is None or _provenance_rank(provenance) < _provenance_rank(current):
                best[digest] = provenance
        return sorted(best.items())


def _ordered(rows: set[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Link rows in a fixed order, so a rematch writes them in the same order every time."""
    return sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))


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
