"""From one conversation object to rows: the conversation, its messages, its references.

Pure functions over the parsed JSON, so they are tested on golden data without a database.
Every node of `mapping` counts, not only the current thread: edits and regenerations still
reference media. Order, branches and the message after a tool's output come from the
`parent` links (mediasyncd.conversations.tree). Nothing is required of a message beyond
being an object: mid-2026 exports drop `status` and strip tool messages, 2026 ones drop
`children`, and unknown content types are normal.

A pointer in a tool message is that tool's output, whatever the tool is called
(`dalle.text2im`, the GPT-4o image tool `t2uay3k.sj1i4kz`, `python`, 2026's
`internal_tool`): its association is `generated` and it is linked to the assistant
message after it too. A pointer repeated by the next tool message counts once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from mediasyncd.conversations.keys import normal_id, pointer_id
from mediasyncd.conversations.parse import OversizedConversation
from mediasyncd.conversations.tree import (
    ConversationTree,
    as_id,
    build_tree,
    message_of,
    role_of,
)
from mediasyncd.jsonvalues import as_float
from mediasyncd.store.digest import digest_bytes

# A file name as people write it in a message: a base name with a media or document
# extension, optionally behind `sandbox:/mnt/data/`. Bounded repetition: no backtracking blowup.
_MENTION: Final = re.compile(
    r"(?<![\w.-])([\w][\w.()-]{0,120}\.(?:png|jpe?g|gif|webp|heic|bmp|tiff?|svg|pdf|"
    r"wav|mp3|m4a|ogg|flac|mp4|mov|webm|csv|tsv|xlsx?|docx?|pptx?|txt|md|json|zip))(?![\w])",
    re.IGNORECASE,
)
_MAX_MENTIONS_PER_MESSAGE: Final = 50


class ConversationShapeError(ValueError):
    """The conversation object is not of a shape mediasyncd can read."""


@dataclass
class MessageRow:
    id: str
    parent_id: str | None
    role: str | None
    author_name: str | None
    recipient: str | None
    content_type: str | None
    create_time: float | None
    text: str
    on_current_branch: bool = False
    position: int = 0


@dataclass
class RefRow:
    message_id: str | None
    kind: str
    key_kind: str
    key: str
    extra: dict[str, Any] = field(default_factory=dict)
    more_keys: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ConversationData:
    id: str
    title: str | None
    create_time: float | None
    update_time: float | None
    current_node: str | None
    model: str | None
    is_archived: bool | None
    content_hash: str
    messages: list[MessageRow]
    refs: list[RefRow]
    # The object holding this conversation's JSON (the XXH3-128 of its bytes), once stored.
    document: str | None = None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _obj_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def content_hash(conversation: dict[str, Any]) -> str:
    """The digest of the conversation in a canonical form (keys sorted), so the same
    content in other bytes (key order, spacing, escapes) is still the same."""
    try:
        canonical = orjson.dumps(conversation, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        # Integers past 64 bits, lone surrogates: what orjson refuses, json still writes.
        text = json.dumps(conversation, sort_keys=True, ensure_ascii=False, default=str)
        canonical = text.encode("utf-8", "surrogatepass")
    return digest_bytes(canonical)


def extract_conversation(conversation: Any) -> ConversationData:
    if isinstance(conversation, OversizedConversation):
        which = conversation.conversation_id or "without an id"
        raise ConversationShapeError(
            f"conversation {which} has more than {conversation.max_nodes:,} mapping nodes "
            "(limits.max_conversation_nodes); it was not read"
        )
    if not isinstance(conversation, dict):
        raise ConversationShapeError(f"a conversation must be an object, not {_kind(conversation)}")
    conv_id = as_id(conversation.get("conversation_id")) or as_id(conversation.get("id"))
    if conv_id is None:
        raise ConversationShapeError("conversation has neither `id` nor `conversation_id`")
    mapping = conversation.get("mapping")
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ConversationShapeError(
            f"conversation {conv_id}: `mapping` must be an object, not {_kind(mapping)}"
        )
    title = conversation.get("title")
    tree = build_tree(_nodes(conv_id, mapping))
    current = as_id(conversation.get("current_node"))
    messages = _messages(tree, current)
    by_id = {m.id: m for m in messages}
    refs: list[RefRow] = []
    tool_pointers: dict[str, set[str]] = {}
    for node_id, message in tree.messages():
        refs.extend(_message_refs(node_id, message, tree, by_id, tool_pointers))
    return ConversationData(
        id=conv_id,
        title=title if isinstance(title, str) else None,
        create_time=as_float(conversation.get("create_time")),
        update_time=as_float(conversation.get("update_time")),
        current_node=current,
        model=conversation.get("default_model_slug")
        if isinstance(conversation.get("default_model_slug"), str)
        else None,
        is_archived=conversation.get("is_archived")
        if isinstance(conversation.get("is_archived"), bool)
        else None,
        content_hash=content_hash(conversation),
        messages=messages,
        refs=_dedupe_refs(refs),
    )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _nodes(conv_id: str, mapping: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise ConversationShapeError(
                f"conversation {conv_id}: node {node_id} must be an object, not {_kind(node)}"
            )
        nodes[str(node_id)] = node
    return nodes


def _message_id(node_id: str, message: dict[str, Any]) -> str:
    return as_id(message.get("id")) or node_id


def _messages(tree: ConversationTree, current: str | None) -> list[MessageRow]:
    on_branch = tree.current_branch(current)
    rows: list[MessageRow] = []
    for position, (node_id, message) in enumerate(tree.messages()):
        author = _obj(message.get("author"))
        content = _obj(message.get("content"))
        above = tree.message_parent[node_id]
        above_message = message_of(tree.nodes[above]) if above is not None else None
        rows.append(
            MessageRow(
                id=_message_id(node_id, message),
                parent_id=_message_id(above, above_message)
                if above is not None and above_message is not None
                else None,
                role=author.get("role") if isinstance(author.get("role"), str) else None,
                author_name=author.get("name") if isinstance(author.get("name"), str) else None,
                recipient=message.get("recipient")
                if isinstance(message.get("recipient"), str)
                else None,
                content_type=content.get("content_type")
                if isinstance(content.get("content_type"), str)
                else None,
                create_time=as_float(message.get("create_time")),
                text=_text_of(content),
                on_current_branch=node_id in on_branch,
                position=position,
            )
        )
    return rows


def _text_of(content: dict[str, Any]) -> str:
    parts = content.get("parts")
    pieces: list[str] = []
    if isinstance(parts, list):
        pieces.extend(p for p in parts if isinstance(p, str))
    text = content.get("text")
    if isinstance(text, str):
        pieces.append(text)
    return "\n".join(pieces)


def _message_refs(
    node_id: str,
    message: dict[str, Any],
    tree: ConversationTree,
    messages: dict[str, MessageRow],
    tool_pointers: dict[str, set[str]],
) -> list[RefRow]:
    message_id = _message_id(node_id, message)
    metadata = _obj(message.get("metadata"))
    content = _obj(message.get("content"))
    # Structure, not a list of tool names: whatever a tool message returns is its output.
    tool_output = role_of(tree.nodes[node_id]) == "tool"
    following: str | None = None
    if tool_output:
        below = tree.following_assistant(node_id)
        below_message = message_of(tree.nodes[below]) if below is not None else None
        if below is not None and below_message is not None:
            following = _message_id(below, below_message)

    attachments = metadata.get("attachments")
    attachment_ids: dict[str, dict[str, Any]] = {}
    if isinstance(attachments, list):
        for attachment in attachments:
            if isinstance(attachment, dict):
                ident = normal_id(as_id(attachment.get("id")))
                if ident:
                    attachment_ids[ident] = attachment

    refs = _part_refs(message_id, content, attachment_ids, tool_output, following)
    if tool_output:
        refs = _without_repeats(node_id, refs, tree, tool_pointers)
    pointed = {r.key for r in refs} | tool_pointers.get(node_id, set())
    for ident, attachment in attachment_ids.items():
        if ident in pointed:
            continue
        mime = attachment.get("mime_type") or attachment.get("mimeType")
        extra = {
            "association": "attachment",
            "name": attachment.get("name"),
            "size_bytes": attachment.get("size"),
            "mime_type": mime,
        }
        refs.append(RefRow(message_id, "attachment", "file_id", ident, _clean(extra)))
    refs.extend(_code_interpreter_refs(message_id, metadata, following))
    text = messages[message_id].text if message_id in messages else ""
    refs.extend(_mention_refs(message_id, text))
    return refs


def _part_refs(
    message_id: str,
    content: dict[str, Any],
    attachment_ids: dict[str, dict[str, Any]],
    tool_output: bool,
    following: str | None,
) -> list[RefRow]:
    refs: list[RefRow] = []
    parts = content.get("parts")
    if isinstance(parts, list):
        for part in parts:
            if isinstance(part, dict):
                for kind, pointer_dict in _pointer_dicts(part, part.get("content_type")):
                    ref = _pointer_ref(
                        message_id, kind, pointer_dict, attachment_ids, tool_output, following
                    )
                    if ref:
                        refs.append(ref)
    return refs


def _without_repeats(
    node_id: str,
    refs: list[RefRow],
    tree: ConversationTree,
    tool_pointers: dict[str, set[str]],
) -> list[RefRow]:
    """Pointers a tool message repeats from the tool message just above it are dropped.

    2026 image generation returns each image twice, in consecutive tool messages (channel
    `final`, then `commentary`): the image is linked once, to the first of them (and to
    the assistant message after it), not once per repetition.
    """
    pointers = {r.key for r in refs}
    tool_pointers[node_id] = pointers
    above = tree.message_parent[node_id]
    repeated = pointers & tool_pointers.get(above, set()) if above is not None else set()
    return [r for r in refs if r.key not in repeated]


def _code_interpreter_refs(
    message_id: str, metadata: dict[str, Any], following: str | None
) -> list[RefRow]:
    refs: list[RefRow] = []
    aggregate = metadata.get("aggregate_result")
    if isinstance(aggregate, dict) and isinstance(aggregate.get("messages"), list):
        for item in aggregate["messages"]:
            if isinstance(item, dict) and isinstance(item.get("image_url"), str):
                ident = normal_id(pointer_id(item["image_url"]))
                if ident:
                    extra = {
                        "association": "generated",
                        "following_message_id": following,
                        "pointer": item["image_url"],
                    }
                    refs.append(
                        RefRow(
                            message_id, "code_interpreter_image", "file_id", ident, _clean(extra)
                        )
                    )
    return refs


def _mention_refs(message_id: str, text: str) -> list[RefRow]:
    refs: list[RefRow] = []
    mentioned: set[str] = set()
    for match in _MENTION.finditer(text):
        name = match.group(1).lower()
        if name in mentioned or len(mentioned) >= _MAX_MENTIONS_PER_MESSAGE:
            continue
        mentioned.add(name)
        refs.append(RefRow(message_id, "text_mention", "filename", name, {"association": "inline"}))
    return refs


def _pointer_dicts(
    part: dict[str, Any], kind: Any, depth: int = 0
) -> list[tuple[str, dict[str, Any]]]:
    """Every dict with a string `asset_pointer` inside a content part, with its kind."""
    found: list[tuple[str, dict[str, Any]]] = []
    if depth > 6:
        return found
    own_kind = part.get("content_type") if isinstance(part.get("content_type"), str) else kind
    if isinstance(part.get("asset_pointer"), str):
        found.append((str(own_kind or "asset_pointer"), part))
    for key, value in part.items():
        if key == "metadata":
            continue
        child_kind = key if key.endswith("asset_pointer") else own_kind
        if isinstance(value, dict):
            found.extend(_pointer_dicts(value, child_kind, depth + 1))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    item_kind = (
                        "frame_asset_pointer" if key == "frames_asset_pointers" else child_kind
                    )
                    found.extend(_pointer_dicts(item, item_kind, depth + 1))
    return found


def _pointer_ref(
    message_id: str,
    kind: str,
    pointer: dict[str, Any],
    attachments: dict[str, dict[str, Any]],
    tool_output: bool,
    following: str | None,
) -> RefRow | None:
    ident = normal_id(pointer_id(pointer["asset_pointer"]))
    if not ident:
        return None
    metadata = _obj(pointer.get("metadata"))
    dalle = _obj_or_none(metadata.get("dalle"))
    generation = _obj_or_none(metadata.get("generation"))
    gen_id = (dalle or {}).get("gen_id") or (generation or {}).get("gen_id")
    if ident in attachments:
        association = "attachment"
    elif tool_output or dalle is not None or generation is not None:
        association = "generated"
    else:
        association = "inline"
    size = pointer.get("size_bytes")
    extra = {
        "association": association,
        "pointer": pointer["asset_pointer"],
        "size_bytes": size if isinstance(size, int) and not isinstance(size, bool) else None,
        "width": pointer.get("width"),
        "height": pointer.get("height"),
        "format": pointer.get("format"),
        "gen_id": gen_id if isinstance(gen_id, str) else None,
        "prompt": (dalle or {}).get("prompt"),
        "following_message_id": following if association == "generated" else None,
    }
    if ident in attachments:
        attachment = attachments[ident]
        extra["name"] = attachment.get("name")
        extra["mime_type"] = attachment.get("mime_type") or attachment.get("mimeType")
    more: list[tuple[str, str]] = []
    if association == "generated" and extra["size_bytes"]:
        more.append(("size", str(extra["size_bytes"])))
    if isinstance(extra["gen_id"], str):
        more.append(("gen_id", extra["gen_id"]))
    return RefRow(message_id, kind, "file_id", ident, _clean(extra), more)


def _clean(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if v is not None}


def _dedupe_refs(refs: list[RefRow]) -> list[RefRow]:
    seen: set[tuple[str | None, str, str, str]] = set()
    out: list[RefRow] = []
    for ref in refs:
        marker = (ref.message_id, ref.kind, ref.key_kind, ref.key)
        if marker not in seen:
            seen.add(marker)
            out.append(ref)
    return out
