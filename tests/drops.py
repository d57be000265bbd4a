"""Small ChatGPT exports for the outcome tests: conversations that each point at one
photo by file id, written whole, cut short, or split into parts with a manifest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.helpers import make_zip, media_bytes
from tests.support.export_builders import conversation, node


def conversation_id(i: int) -> str:
    return f"c0000000-0000-4000-8000-{i:012d}"


def file_id(i: int) -> str:
    return f"file-Photo{i:06d}"


def photo(i: int) -> bytes:
    return media_bytes(1500 + i, f"outcome-photo-{i}")


def photo_conversation(i: int) -> dict[str, Any]:
    """Conversation i: the user uploads photo i and says something."""
    pointer = {
        "content_type": "image_asset_pointer",
        "asset_pointer": f"file-service://{file_id(i)}",
        "size_bytes": len(photo(i)),
    }
    t = 1_714_560_000.0 + i * 3600
    return conversation(
        conversation_id(i),
        f"Conversation {i}",
        [
            node("root", None, ["u1"], None),
            node("u1", "root", ["a1"], "user", [pointer, f"photo {i}"], create_time=t),
            node("a1", "u1", [], "assistant", [f"nice photo {i}"], create_time=t + 5),
        ],
        "a1",
        create_time=t,
    )


def conversations_json(count: int) -> bytes:
    return json.dumps([photo_conversation(i) for i in range(count)], indent=1).encode()


def cut_after(document: bytes, complete: int) -> bytes:
    """`document` (a JSON array of conversations) cut in the middle of conversation
    number `complete` (0-based): the ones before it are whole."""
    start = document.index(f'"id": "{conversation_id(complete)}"'.encode())
    return document[: start + 40]


def export_zip(
    path: Path,
    conversations: bytes,
    photos: range,
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """A ChatGPT export: conversations.json, the photos named by file id, and `extra`."""
    entries = {"conversations.json": conversations}
    entries.update({f"{file_id(i)}-photo{i}.png": photo(i) for i in photos})
    entries.update(extra or {})
    return make_zip(path, entries)
