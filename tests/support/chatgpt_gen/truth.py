"""The expected links and unresolved references of a set of drops, by the linking spec.

Computed from the generator's own model (which reference sits in which message, which
file has which id and folder), never by parsing what was written and never from
mediasyncd's code, so it is an independent statement of the linking rules
(docs/architecture.md, "Matching"; docs/formats.md, sections 3 to 7):

1. id strategies: a pointer (asset_pointer, 1.0; 0.98 when the id comes only from a map),
   an attachment (attachment 1.0; reported by the pointer as asset_pointer when the same
   message has both), code interpreter's image_url (code_interpreter 1.0), a library row
   (library_origin 0.95, message- or conversation-level); the rendered pages of a
   document an id names go with that message (document_page 0.95, attachment), without
   resolving the reference;
2. conversation folders: a size pin, else a count pin (0.85, message level), else a
   conversation-level link (0.9);
3. size: an id-less generated image whose size exactly one generated pointer has;
4. text mentions of files already in the conversation's scope (0.4), else of a file that
   nothing claims (no id any reference names, no conversation folder, not a DALL·E
   archive or id-less generated image) named in exactly one conversation (0.3);
then one row per (conversation, message, digest) with the strongest strategy, a generated
file (any tool message's pointer) also linked to the first assistant message below its
producer, and no conversation-level row for a file linked to a message of that
conversation.
Where the spec could be read two ways the resolver raises `Ambiguous`: the generator is
built so that this never happens, and the self-tests check it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.chatgpt_gen.model import (
    POINTER_KINDS,
    Asset,
    Conversation,
    LibEntry,
    Node,
    Ref,
)
from tests.support.chatgpt_gen.sink import PlacedFile, WrittenDrop

STRATEGIES = (
    "asset_pointer",
    "attachment",
    "code_interpreter",
    "library_origin",
    "document_page",
    "conversation_dir",
    "size",
    "text_mention",
)
RANK = {s: i for i, s in enumerate(STRATEGIES)}
REF_STRATEGY = {
    "image": "asset_pointer",
    "audio": "asset_pointer",
    "video": "asset_pointer",
    "frame": "asset_pointer",
    "attachment": "attachment",
    "code_interpreter": "code_interpreter",
    "library": "library_origin",
}

Key = tuple[str, str | None, str]  # (conversation_id, message_id, digest)
RefKey = tuple[str | None, str | None, str]  # (conversation_id, message_id, file id)


class Ambiguous(Exception):
    """The spec does not decide this situation; the corpus must not contain it."""


@dataclass(frozen=True)
class Link:
    conversation_id: str
    message_id: str | None
    digest: str
    strategy: str
    association: str
    confidence: float

    @property
    def key(self) -> Key:
        return (self.conversation_id, self.message_id, self.digest)


@dataclass
class DigestInfo:
    asset: Asset
    ids: dict[str, str] = field(default_factory=dict)  # id -> "name" | "map"
    folders: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    dallelabs: bool = False
    places: list[str] = field(default_factory=list)
    pages_of: set[str] = field(default_factory=set)  # documents it is a page of


@dataclass
class Truth:
    links: dict[Key, Link]
    unresolved: dict[RefKey, str]  # -> the strategy that would have linked it
    files: list[PlacedFile]
    conversations: dict[str, Conversation]
    digests: dict[str, DigestInfo]
    library_keys: set[RefKey] = field(default_factory=set)  # library_files.json references

    def links_for(self, digest: str) -> set[Link]:
        return {link for link in self.links.values() if link.digest == digest}

    def by_file(self) -> dict[str, set[Link]]:
        """For every written file (`drop!/member`), the links expected for it."""
        return {f"{f.drop}!/{f.member}": self.links_for(f.asset.digest) for f in self.files}

    def strategy_counts(self) -> Counter[str]:
        return Counter(link.strategy for link in self.links.values())


def association(ref: Ref, node: Node | None) -> str:
    """generated (a tool's output), attachment (an upload) or inline (anything else)."""
    if ref.kind == "library":
        return "generated" if ref.generated else "inline"
    assert node is not None
    meta = (ref.part or {}).get("metadata") or {}
    by_tool = node.role == "tool"  # whatever the tool is called
    if by_tool or meta.get("dalle") is not None or meta.get("generation") is not None:
        return "generated"
    if ref.key in node.attachment_ids:
        return "attachment"
    return "inline"


def follower(conv: Conversation | None, message_id: str | None) -> str | None:
    """The first assistant message within three nodes down the first-child chain."""
    if conv is None or message_id is None or message_id not in conv.nodes:
        return None
    node = conv.nodes[message_id]
    if node.role == "assistant":
        raise Ambiguous(f"generated file produced by assistant message {message_id}")
    for _ in range(3):
        if not node.children:
            return None
        node = conv.nodes[node.children[0]]
        if node.role == "assistant":
            return node.id
    return None


class _Resolver:
    def __init__(self, drops: Sequence[WrittenDrop]):
        self.convs: dict[str, Conversation] = {}
        self.files: list[PlacedFile] = []
        library: dict[tuple[str, str | None, str | None], LibEntry] = {}
        for drop in drops:
            for conv in drop.conversations:
                self.convs[conv.id] = conv  # a later drop's version replaces an earlier one
            self.files.extend(drop.files)
            for entry in drop.library:
                library[(entry.file_id, entry.thread, entry.message)] = entry
        self.library = list(library.values())
        self.digests: dict[str, DigestInfo] = {}
        for placed in self.files:
            info = self.digests.setdefault(placed.asset.digest, DigestInfo(placed.asset))
            for fid, how in placed.ids:
                if info.ids.get(fid) != "name":
                    info.ids[fid] = how
            if placed.conv_folder:
                info.folders.add(placed.conv_folder)
            info.names.add(placed.name)
            info.dallelabs |= placed.dallelabs
            info.places.append(f"{placed.drop.name}!/{placed.member}")
            if placed.pages_of:
                info.pages_of.add(placed.pages_of)
        self.by_id: dict[str, str] = {}
        for digest, info in self.digests.items():
            for fid in info.ids:
                if self.by_id.setdefault(fid, digest) != digest:
                    raise Ambiguous(f"file id {fid} names two different files")
        self.rows: dict[Key, Link] = {}
        self.resolved: dict[int, str] = {}  # id(ref) -> the digest satisfying it
        self.pinned: set[tuple[str, str]] = set()

    # -- rows ----------------------------------------------------------------------------

    def add(
        self,
        conv_id: str,
        message_id: str | None,
        digest: str,
        strategy: str,
        assoc: str,
        confidence: float,
    ) -> None:
        key = (conv_id, message_id, digest)
        old = self.rows.get(key)
        new = Link(conv_id, message_id, digest, strategy, assoc, confidence)
        if old is None or (RANK[strategy], -confidence) < (RANK[old.strategy], -old.confidence):
            self.rows[key] = new

    def add_linked(
        self,
        conv_id: str,
        message_id: str | None,
        digest: str,
        strategy: str,
        assoc: str,
        confidence: float,
    ) -> None:
        self.add(conv_id, message_id, digest, strategy, assoc, confidence)
        if assoc == "generated" and message_id is not None:
            after = follower(self.convs.get(conv_id), message_id)
            if after is not None:
                self.add(conv_id, after, digest, strategy, assoc, confidence)

    def node_refs(self) -> Iterable[tuple[Conversation, Node, Ref]]:
        for conv in self.convs.values():
            for node in conv.nodes.values():
                for ref in node.refs:
                    yield conv, node, ref

    # -- the strategies --------------------------------------------------------------------

    def pages(self) -> None:
        pages: dict[str, list[str]] = defaultdict(list)
        for digest, info in sorted(self.digests.items()):
            for document in info.pages_of:
                pages[document].append(digest)
        for conv, node, ref in self.node_refs():
            for digest in pages.get(ref.key, []):
                self.add(conv.id, node.id, digest, "document_page", "attachment", 0.95)

    def by_ids(self) -> None:
        self.pages()
        for conv, node, ref in self.node_refs():
            digest = self.by_id.get(ref.key)
            if digest is None:
                continue
            self.resolved[id(ref)] = digest
            if ref.kind == "attachment" and any(
                r.kind in POINTER_KINDS and r.key == ref.key for r in node.refs
            ):
                continue  # the pointer reports it (asset_pointer, association attachment)
            confidence = 1.0
            if ref.kind in POINTER_KINDS and self.digests[digest].ids[ref.key] == "map":
                confidence = 0.98
            assoc = association(ref, node)
            if assoc == "generated" and not ref.generated:
                raise AssertionError(f"generator flags disagree on {ref}")
            self.add_linked(conv.id, node.id, digest, REF_STRATEGY[ref.kind], assoc, confidence)
        for entry in self.library:
            lib_ref = entry.ref()
            digest = self.by_id.get(entry.file_id)
            if lib_ref is None or digest is None:
                continue
            self.resolved[id(entry)] = digest
            assert entry.thread is not None
            self.add_linked(
                entry.thread,
                entry.message,
                digest,
                "library_origin",
                association(lib_ref, None),
                0.95,
            )

    def folder_digests(self, conv_id: str) -> list[str]:
        if not hasattr(self, "_folders"):
            self._folders: dict[str, list[str]] = defaultdict(list)
            for digest, info in sorted(self.digests.items()):
                for folder in info.folders:
                    self._folders[folder].append(digest)
        return self._folders.get(conv_id, [])

    def rows_by_conversation(self) -> dict[str, list[tuple[str | None, str]]]:
        """(message, digest) of the rows so far, per conversation (a snapshot)."""
        grouped: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
        for conv_id, message_id, digest in self.rows:
            grouped[conv_id].append((message_id, digest))
        return grouped

    def folder_pins(self) -> None:
        # Pins add rows only to their own conversation, so one snapshot serves all.
        rows = self.rows_by_conversation()
        for conv in self.convs.values():
            folder = self.folder_digests(conv.id)
            if not folder:
                continue
            open_refs: list[Ref] = [
                r
                for n in conv.nodes.values()
                for r in n.refs
                if r.is_generated_image and id(r) not in self.resolved
            ]
            open_refs += [
                r
                for e in self.library
                if e.thread == conv.id and id(e) not in self.resolved
                for r in [e.ref()]
                if r is not None and r.is_generated_image
            ]
            linked = {d for m, d in rows.get(conv.id, []) if m is not None}
            images = [d for d in folder if self.digests[d].asset.is_image]
            free = [d for d in images if d not in linked]
            if open_refs and len(free) != len(images):
                raise Ambiguous(f"{conv.id}: folder image already linked beside open refs")
            pins: dict[str, Ref] = {}
            for digest in free:
                size = self.digests[digest].asset.size
                fits = [r for r in open_refs if r.size_bytes == size]
                if len(fits) == 1:
                    pins[digest] = fits[0]
            if len({id(r) for r in pins.values()}) != len(pins):
                raise Ambiguous(f"{conv.id}: one reference pinned by two files")
            if pins and len(pins) < len(free):
                raise Ambiguous(f"{conv.id}: size pins leave images for a count pin")
            if not pins and len(open_refs) == 1 and len(free) == 1:
                if open_refs[0].kind != "image":
                    raise Ambiguous(f"{conv.id}: count pin onto a {open_refs[0].kind} reference")
                if not self.digests[free[0]].dallelabs:
                    raise Ambiguous(f"{conv.id}: count pin of a file outside the DALL·E archive")
                pins[free[0]] = open_refs[0]
            for digest, ref in pins.items():
                self.resolved[id(ref)] = digest
                self.pinned.add((conv.id, digest))
                self.add_linked(
                    conv.id, ref.message_id, digest, "conversation_dir", "generated", 0.85
                )

    def sizes(self) -> None:
        id_less = [
            d
            for d, info in self.digests.items()
            if not info.ids and info.asset.generated and info.asset.is_image
        ]
        file_sizes = Counter(self.digests[d].asset.size for d in id_less)
        pointers: dict[int, list[tuple[Conversation, Node, Ref]]] = defaultdict(list)
        for conv, node, ref in self.node_refs():
            if (
                ref.kind == "image"
                and ref.size_bytes is not None
                and association(ref, node) == "generated"
            ):
                pointers[ref.size_bytes].append((conv, node, ref))
        for digest in id_less:
            size = self.digests[digest].asset.size
            if file_sizes[size] == 1 and len(pointers[size]) == 1:
                conv, node, ref = pointers[size][0]
                if self.resolved.get(id(ref), digest) != digest:
                    raise Ambiguous(f"{conv.id}: size names another file for a resolved reference")
                self.resolved[id(ref)] = digest
                self.add_linked(conv.id, node.id, digest, "size", "generated", 0.7)

    def unclaimed(self) -> list[str]:
        """Files nothing claims against text mentions: no id that a reference names, no
        conversation folder, not from the DALL·E archive, not an id-less generated image."""
        named = {r.key for _c, _n, r in self.node_refs()}
        named |= {e.file_id for e in self.library if e.thread is not None}
        free: list[str] = []
        for digest, info in sorted(self.digests.items()):
            id_less_generated = not info.ids and info.asset.generated and info.asset.is_image
            if not (info.folders or info.dallelabs or id_less_generated or set(info.ids) & named):
                free.append(digest)
        return free

    def mentions(self) -> None:
        rows = self.rows_by_conversation()
        talkers: dict[str, set[str]] = defaultdict(set)
        for conv in self.convs.values():
            for node in conv.nodes.values():
                for name in node.mentions:
                    talkers[name].add(conv.id)
        unclaimed = self.unclaimed()
        for conv in self.convs.values():
            scope = set(self.folder_digests(conv.id))
            scope |= {d for _m, d in rows.get(conv.id, [])}
            for node in conv.nodes.values():
                for name in node.mentions:
                    hits = sorted(d for d in scope if name in self.digests[d].names)
                    if len(hits) > 1:
                        raise Ambiguous(f"{conv.id}: {name} names {len(hits)} files in scope")
                    assoc = "generated" if node.role == "tool" else "inline"
                    if hits:
                        self.add(conv.id, node.id, hits[0], "text_mention", assoc, 0.4)
                    elif len(talkers[name]) == 1:
                        for digest in unclaimed:
                            if name in self.digests[digest].names:
                                self.add(conv.id, node.id, digest, "text_mention", assoc, 0.3)

    def conversation_level(self) -> None:
        for conv in self.convs.values():
            for digest in self.folder_digests(conv.id):
                if (conv.id, digest) in self.pinned:
                    continue
                assoc = "generated" if self.digests[digest].dallelabs else "inline"
                self.add(conv.id, None, digest, "conversation_dir", assoc, 0.9)
        at_message = {(c, d) for (c, m, d) in self.rows if m is not None}
        for key in [k for k in self.rows if k[1] is None and (k[0], k[2]) in at_message]:
            del self.rows[key]

    def unresolved(self) -> dict[RefKey, str]:
        out: dict[RefKey, str] = {}
        for conv, node, ref in self.node_refs():
            if id(ref) not in self.resolved:
                out[(conv.id, node.id, ref.key)] = REF_STRATEGY[ref.kind]
        for entry in self.library:
            if entry.thread is not None and id(entry) not in self.resolved:
                out[(entry.thread, entry.message, entry.file_id)] = "library_origin"
        return out

    def run(self) -> Truth:
        self.by_ids()
        self.folder_pins()
        self.sizes()
        self.mentions()
        self.conversation_level()
        library: set[RefKey] = {(e.thread, e.message, e.file_id) for e in self.library if e.thread}
        return Truth(self.rows, self.unresolved(), self.files, self.convs, self.digests, library)


def expected(drops: Sequence[WrittenDrop]) -> Truth:
    """What mediasyncd should report after ingesting these drops (later ones newer)."""
    return _Resolver(drops).run()


def describe_link(link: Link | dict[str, Any]) -> str:
    if isinstance(link, Link):
        link = link.__dict__
    return (
        f"{link['conversation_id']} / {link['message_id']} / {link['digest'][:12]} "
        f"{link['strategy']} {link['association']} {link['confidence']}"
    )
