"""From one conversation object to rows: the conversation, its messages, its references.

Pure functions over the parsed JSON, so they are tested on golden data without a database.
Every node of `mapping` counts, not only the current thread: edits and regenerations still
reference media. Nothing is required of a message beyond being an object: mid-2026 exports
drop `status` and strip tool messages, and unknown content types are normal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from mediasyncd.conversations.keys import pointer_id
from mediasyncd.digest import digest_bytes
from mediasyncd.jsonvalues import as_float

# Tools whose output is a generated file (formats.md: DALL·E, the GPT-4o image
# generator, the code interpreter).
GENERATOR_TOOLS: Final = frozenset({"dalle.text2im", "t2uay3k.sj1i4kz", "python"})

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


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _obj_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _as_id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Ids as numbers appear in hand-edited exports; keep them readable and stable.
        return str(int(value)) if float(value).is_integer() else str(value)
    return None


def content_hash(conversation: dict[str, Any]) -> str:
    canonical = json.dumps(conversation, sort_keys=True, ensure_ascii=False, default=str)
    return digest_bytes(canonical.encode("utf-8", "surrogatepass"))


def extract_conversation(conversation: Any) -> ConversationData:
    if not isinstance(conversation, dict):
        raise ConversationShapeError(f"a conversation must be an object, not {_kind(conversation)}")
    conv_id = _as_id(conversation.get("conversation_id")) or _as_id(conversation.get("id"))
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
    nodes = _nodes(conv_id, mapping)
    current = _as_id(conversation.get("current_node"))
    messages = _messages(nodes, current)
    refs: list[RefRow] = []
    by_id = {m.id: m for m in messages}
    for node_id, node in nodes.items():
        message = node.get("message")
        if isinstance(message, dict):
            refs.extend(_message_refs(conv_id, node_id, message, nodes, by_id))
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
    return _as_id(message.get("id")) or node_id


def _messages(nodes: dict[str, dict[str, Any]], current: str | None) -> list[MessageRow]:
    # The visible thread: the parent chain from current_node.
    on_branch: set[str] = set()
    cursor = current
    guard = 0
    while cursor and cursor in nodes and guard <= len(nodes):
        on_branch.add(cursor)
        cursor = _as_id(nodes[cursor].get("parent"))
        guard += 1
    rows: list[MessageRow] = []
    for position, node_id in enumerate(_tree_order(nodes)):
        node = nodes[node_id]
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        author = _obj(message.get("author"))
        content = _obj(message.get("content"))
        parent = _as_id(node.get("parent"))
        parent_message = _nearest_message_ancestor(nodes, parent)
        rows.append(
            MessageRow(
                id=_message_id(node_id, message),
                parent_id=parent_message,
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


def _nearest_message_ancestor(nodes: dict[str, dict[str, Any]], node_id: str | None) -> str | None:
    guard = 0
    while node_id and node_id in nodes and guard <= len(nodes):
        message = nodes[node_id].get("message")
        if isinstance(message, dict):
            return _message_id(node_id, message)
        node_id = _as_id(nodes[node_id].get("parent"))
        guard += 1
    return None


def _tree_order(nodes: dict[str, dict[str, Any]]) -> list[str]:
    """Depth-first from the roots in `children` order; orphans and cycles still appear."""
    roots = [nid for nid, node in nodes.items() if _as_id(node.get("parent")) not in nodes]
    order: list[str] = []
    seen: set[str] = set()
    stack = list(reversed(roots))
    while stack:
        nid = stack.pop()
        if nid in seen or nid not in nodes:
            continue
        seen.add(nid)
        order.append(nid)
        children = nodes[nid].get("children")
        if isinstance(children, list):
            stack.extend(reversed([str(c) for c in children if _as_id(c)]))
    order.extend(nid for nid in nodes if nid not in seen)
    return order


def _text_of(content: dict[str, Any]) -> str:
    parts = content.get("parts")
    pieces: list[str] = []
    if isinstance(parts, list):
        pieces.extend(p for p in parts if isinstance(p, str))
    text = content.get("text")
    if isinstance(text, str):
        pieces.append(text)
    return "\n".join(pieces)


def _following_assistant(nodes: dict[str, dict[str, Any]], node_id: str) -> str | None:
    """The first assistant message below a tool message (first-child chain, 3 nodes deep)."""
    cursor = node_id
    for _ in range(3):
        children = nodes.get(cursor, {}).get("children")
        if not isinstance(children, list) or not children:
            return None
        cursor = str(children[0])
        message = nodes.get(cursor, {}).get("message")
        if isinstance(message, dict):
            author = message.get("author")
            if isinstance(author, dict) and author.get("role") == "assistant":
                return _message_id(cursor, message)
    return None


def _message_refs(
    conv_id: str,
    node_id: str,
    message: dict[str, Any],
    nodes: dict[str, dict[str, Any]],
    messages: dict[str, MessageRow],
) -> list[RefRow]:
    message_id = _message_id(node_id, message)
    author = _obj(message.get("author"))
    role = author.get("role")
    tool = author.get("name") if role == "tool" else None
    metadata = _obj(message.get("metadata"))
    content = _obj(message.get("content"))
    generator = tool in GENERATOR_TOOLS
    following = _following_assistant(nodes, node_id) if generator or role == "tool" else None

    attachments = metadata.get("attachments")
    attachment_ids: dict[str, dict[str, Any]] = {}
    if isinstance(attachments, list):
        for attachment in attachments:
            if isinstance(attachment, dict):
                ident = _as_id(attachment.get("id"))
                if ident:
                    attachment_ids[ident] = attachment

    refs: list[RefRow] = []
    parts = content.get("parts")
    if isinstance(parts, list):
        for part in parts:
            if isinstance(part, dict):
                for kind, pointer_dict in _pointer_dicts(part, part.get("content_type")):
                    ref = _pointer_ref(
                        message_id, kind, pointer_dict, attachment_ids, generator, following
                    )
                    if ref:
                        refs.append(ref)
    pointed = {r.key for r in refs}
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
    aggregate = metadata.get("aggregate_result")
    if isinstance(aggregate, dict) and isinstance(aggregate.get("messages"), list):
        for item in aggregate["messages"]:
            if isinstance(item, dict) and isinstance(item.get("image_url"), str):
                ident = pointer_id(item["image_url"])
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
    text = messages[message_id].text if message_id in messages else ""
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
    generator: bool,
    following: str | None,
) -> RefRow | None:
    ident = pointer_id(pointer["asset_pointer"])
    if not ident:
        return None
    metadata = _obj(pointer.get("metadata"))
    dalle = _obj_or_none(metadata.get("dalle"))
    generation = _obj_or_none(metadata.get("generation"))
    gen_id = (dalle or {}).get("gen_id") or (generation or {}).get("gen_id")
    if ident in attachments:
        association = "attachment"
    elif generator or dalle is not None or generation is not None:
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
