"""The corpus model: conversations as the exports write them, plus what they reference.

A `Conversation` holds its mapping nodes with the message JSON exactly as written, and
beside each node the references the spec says it carries (`Ref`) and the file names its
text mentions. An `Asset` is one file's bytes with the places it is written to (the
export, the privacy archive, both or neither). `LibEntry` is one library_files.json row.
The writers turn these into exports; tests/support/chatgpt_gen/truth.py turns them into links.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field, replace
from typing import Any

import xxhash

from tests.support.chatgpt_gen.ids import IMAGE_KINDS, MIME

# Reference kinds whose key is a file id (pointers, attachments, code interpreter, library).
POINTER_KINDS = frozenset({"image", "audio", "video", "frame"})


@dataclass
class Ref:
    """One reference to a file, as the spec's reference extraction should find it."""

    kind: str  # image | audio | video | frame | attachment | code_interpreter | library
    key: str  # the file id, exactly as written (`file-…` or `file_…`)
    conversation_id: str | None
    message_id: str | None
    generated: bool
    size_bytes: int | None = None
    # The JSON object the reference lives in, so a test can change what is written.
    part: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def is_generated_image(self) -> bool:
        """A generated image reference, the kind conversation-folder pins consider."""
        if not self.generated:
            return False
        return self.kind in {"image", "code_interpreter", "library"}


@dataclass
class Node:
    id: str
    parent: str | None
    children: list[str]
    message: dict[str, Any] | None
    turn: int = 0
    refs: list[Ref] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)

    @property
    def role(self) -> str | None:
        return None if self.message is None else self.message["author"]["role"]

    @property
    def author_name(self) -> str | None:
        return None if self.message is None else self.message["author"].get("name")

    @property
    def attachment_ids(self) -> set[str]:
        if self.message is None:
            return set()
        return {a["id"] for a in (self.message.get("metadata") or {}).get("attachments") or []}


@dataclass
class Conversation:
    id: str
    title: str | None
    create_time: float
    update_time: float
    nodes: dict[str, Node]
    current_node: str
    id_style: str = "both"  # both | id | conversation_id
    model_slug: str = "gpt-4o"
    # Mid-2026 (era C) exports strip tool and system messages from this conversation.
    strip_in_era_c: bool = False
    turns: int = 0

    # -- views -------------------------------------------------------------------------

    def for_era(self, era: str) -> Conversation:
        """The conversation as an export of this era writes it."""
        if era == "C" and self.strip_in_era_c:
            return self.stripped()
        return self

    def stripped(self) -> Conversation:
        """Tool and system messages removed, their children re-attached to the parent."""
        nodes = {k: replace(n, children=list(n.children)) for k, n in self.nodes.items()}
        for node_id in list(nodes):
            node = nodes[node_id]
            if node.role not in ("tool", "system"):
                continue
            parent = nodes[node.parent] if node.parent else None
            for child in node.children:
                nodes[child].parent = node.parent
            if parent is not None:
                at = parent.children.index(node_id)
                parent.children[at : at + 1] = node.children
            del nodes[node_id]
        current = self.current_node
        while current not in nodes:
            parent_id = self.nodes[current].parent
            assert parent_id is not None
            current = parent_id
        return replace(self, nodes=nodes, current_node=current, strip_in_era_c=False)

    def truncated(self, drop_turns: int) -> Conversation:
        """An earlier version: the last `drop_turns` turns not yet written."""
        keep_turns = max(0, self.turns - drop_turns)
        nodes = {
            k: replace(n, children=[c for c in n.children if self.nodes[c].turn <= keep_turns])
            for k, n in self.nodes.items()
            if n.turn <= keep_turns
        }
        current = self.current_node
        while current not in nodes:
            parent_id = self.nodes[current].parent
            assert parent_id is not None
            current = parent_id
        times = [n.message["create_time"] for n in nodes.values() if n.message]
        update = max([t for t in times if t] or [self.create_time])
        return replace(
            self, nodes=nodes, current_node=current, turns=keep_turns, update_time=update
        )

    def refs(self) -> list[Ref]:
        return [r for n in self.nodes.values() for r in n.refs]

    def to_json(self, era: str) -> dict[str, Any]:
        """The conversation object exactly as an export of `era` writes it.

        2026 (era C) nodes carry only `parent`, no `children`, and the mapping comes in
        alphabetical key order: order and branches must be rebuilt from the parents."""
        conv = self.for_era(era)
        mapping: dict[str, Any] = {}
        nodes = (
            sorted(conv.nodes.values(), key=lambda n: n.id) if era == "C" else conv.nodes.values()
        )
        for node in nodes:
            message = node.message
            if message is not None and era == "C":
                # Mid-2026 exports drop `status` (convoviz issue #60).
                message = {k: v for k, v in message.items() if k != "status"}
            mapping[node.id] = {"id": node.id, "message": message, "parent": node.parent}
            if era != "C":
                mapping[node.id]["children"] = list(node.children)
        data: dict[str, Any] = {
            "title": conv.title,
            "create_time": conv.create_time,
            "update_time": conv.update_time,
            "mapping": mapping,
            "moderation_results": [],
            "current_node": conv.current_node,
            "plugin_ids": None,
            "conversation_id": conv.id,
            "conversation_template_id": None,
            "gizmo_id": None,
            "gizmo_type": None,
            "is_archived": False,
            "is_starred": None,
            "safe_urls": [],
            "blocked_urls": [],
            "default_model_slug": conv.model_slug,
            "conversation_origin": None,
            "voice": None,
            "async_status": None,
            "disabled_tool_ids": [],
            "is_do_not_remember": False,
            "memory_scope": "global_enabled",
            "id": conv.id,
        }
        if conv.id_style == "id":
            del data["conversation_id"]
        elif conv.id_style == "conversation_id":
            del data["id"]
        return data


@dataclass
class Asset:
    """One file: its bytes, its OpenAI id (if it has one) and where it is written."""

    uid: int
    kind: str  # png | jpeg | webp | wav | mp4 | pdf | txt
    data: bytes = field(repr=False)
    role: str  # upload, pdf, dalle, gpt4o, ci, sandbox, voice, video, ...
    orig_name: str = ""  # the user-facing name: IMG_0617.jpeg, chart_3.png, <uuid>.webp
    file_id: str | None = None
    conversation_id: str | None = None
    turn: int = 0
    # How the export carries it: None (absent), "id_name" (the id is in the name),
    # "map_only" (era A: only chat.html's assetsJson gives the id), "no_id" (no id at all).
    export: str | None = None
    # Where the privacy archive carries it (None: not there): dallelabs_conv,
    # dallelabs_generation, files_id, files_user, files_sandbox, conversations_audio,
    # conversations_dat.
    privacy: str | None = None
    pointer: str | None = None  # the asset pointer naming it, for assetsJson
    name_uuid: str = ""  # the UUID era A puts in generated files' names
    export_name: str = ""  # the name era A/B give it when not `orig_name` (sanitized.jpeg)
    pages_of: str = ""  # a rendered page (July 2025): the id of the document it shows
    privacy_name: str = ""  # the privacy archive's name (the 16-character DALL·E names)
    folder: str = ""  # an extra folder: user-<id> (GPT-4o), session id, generation id
    generated: bool = False  # a tool's output (DALL·E, GPT-4o, dallelabs)

    @property
    def size(self) -> int:
        return len(self.data)

    @functools.cached_property
    def digest(self) -> str:
        return xxhash.xxh3_128_hexdigest(self.data)

    @property
    def is_image(self) -> bool:
        return self.kind in IMAGE_KINDS

    @property
    def mime(self) -> str:
        return MIME[self.kind]


@dataclass
class LibEntry:
    """One row of era C's library_files.json."""

    file_id: str
    file_name: str
    mime_type: str
    artifact_type: str | None  # None | image | image_gen | report | writing_block
    thread: str | None
    message: str | None
    gen_id: str | None
    created_at: str
    asset_uid: int | None  # the asset it describes (None: the file is absent)

    @property
    def generated(self) -> bool:
        return self.artifact_type in {"image", "image_gen"} or self.gen_id is not None

    def ref(self) -> Ref | None:
        if self.thread is None:
            return None
        return Ref("library", self.file_id, self.thread, self.message, self.generated)

    def to_json(self, index: int) -> dict[str, Any]:
        category = "image" if self.mime_type.startswith("image/") else "other"
        return {
            "id": {"id": f"libfile_{index:026d}"},
            "file_id": self.file_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "library_file_category": category,
            "library_artifact_type": self.artifact_type,
            "library_artifact_subtype": None,
            "origination_message_id": self.message,
            "origination_thread_id": self.thread,
            "image_gen_generation_id": self.gen_id,
            "created_at": self.created_at,
            "record_creation_time": self.created_at,
            "version_created_at": self.created_at,
            "current_version_number": None,
            "source_version_number": None,
        }


@dataclass
class Corpus:
    seed: int
    user_id: str
    account: str  # the 64-hex prefix of export zip names
    conversations: list[Conversation]
    assets: list[Asset]
    library: list[LibEntry]

    def conversation(self, conversation_id: str) -> Conversation:
        for conv in self.conversations:
            if conv.id == conversation_id:
                return conv
        raise KeyError(conversation_id)

    def export_assets(self) -> list[Asset]:
        return [a for a in self.assets if a.export is not None]

    def privacy_assets(self) -> list[Asset]:
        return [a for a in self.assets if a.privacy is not None]

    def subset(self, conversation_ids: set[str]) -> Corpus:
        """Only these conversations, the assets they reference and the library rows naming
        them (for a privacy archive or export "touching a few conversations")."""
        return replace(
            self,
            conversations=[c for c in self.conversations if c.id in conversation_ids],
            assets=[a for a in self.assets if a.conversation_id in conversation_ids],
            library=[e for e in self.library if e.thread in conversation_ids],
        )


def mime_of(asset: Asset) -> str:
    return MIME[asset.kind]


def deep_copy_conversation(conv: Conversation) -> Conversation:
    return copy.deepcopy(conv)
