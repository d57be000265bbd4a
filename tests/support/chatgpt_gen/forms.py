"""Single forms of real exports, 2023 to 2026, built exactly as each era lays them out.

The corpus generator (build.py, writers.py) mixes every feature at random; these builders
write one form at a time so a test can name the form, the file it implies and every link,
association and unresolved entry it must give. Shapes follow the real samples in
tests/data/fixtures/chatgpt/ and the forms described in docs/formats.md:

- `Thread`: one conversation, message by message. `era=2026` writes each node with only
  `parent` (no `children`) and the mapping in alphabetical key order, with the root
  called `client-created-root`; earlier eras write `children` too, in creation order.
- `export_zip`: an export as a zip of members (documents and media, nested parts).
- `dat_export_members`: the 2026 `.dat` layout's documents: the name map, the library,
  the manifest (and its copy under `sites/`), and the other JSON documents it carries.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import make_zip
from tests.support.chatgpt_gen import messages as m

# The JSON documents a 2026 export carries besides conversations, with small real shapes.
EXPORT_DOCUMENTS_2026: Mapping[str, Any] = {
    "user.json": {"id": "user-Form2026xxxxxxxxxxxxxx", "email": "someone@example.com"},
    "user_settings.json": {"theme": "system", "language": "en"},
    "message_feedback.json": [],
    "shared_conversations.json": [],
    "group_chats.json": {"chats": []},
    "ads.json": {"ad_preferences": {"personalized": False}, "ad_interactions": []},
    "shopping.json": [],
    "sora.json": {"generations": []},
}


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


class Ids:
    """Deterministic ids in the shapes real exports use."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def sediment(self) -> str:
        return "file_00000000" + "".join(self.rng.choice("0123456789abcdef") for _ in range(24))

    def file_service(self) -> str:
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        return "file-" + "".join(self.rng.choice(alphabet) for _ in range(22))


@dataclass
class Thread:
    """One conversation; `add` appends a message below `parent` (default: the last one)."""

    ids: Ids
    era: int = 2026
    title: str = "A conversation"
    id: str = ""
    clock: float = 1_780_000_000.0
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # message node ids, in creation order
    root: str = ""
    last: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or self.ids.uuid()
        self.root = "client-created-root" if self.era >= 2026 else self.ids.uuid()
        self.nodes[self.root] = {"id": self.root, "message": None, "parent": None, "children": []}
        self.last = self.root

    def add(
        self,
        role: str,
        content: dict[str, Any],
        *,
        parent: str | None = None,
        name: str | None = None,
        channel: str | None = None,
        metadata: dict[str, Any] | None = None,
        timed: bool = True,
    ) -> str:
        node_id = self.ids.uuid()
        self.clock += 7.25
        message = m.message(
            node_id, role, content, self.clock if timed else None, name=name, metadata=metadata
        )
        message["channel"] = channel
        if self.era >= 2026:
            message.pop("status")
        above = self.last if parent is None else parent
        self.nodes[node_id] = {"id": node_id, "message": message, "parent": above, "children": []}
        self.nodes[above]["children"].append(node_id)
        self.order.append(node_id)
        self.last = node_id
        return node_id

    def say(self, role: str, words: str, **kw: Any) -> str:
        return self.add(role, m.text(words), **kw)

    def to_json(self) -> dict[str, Any]:
        if self.era >= 2026:
            mapping = {
                key: {k: v for k, v in node.items() if k != "children"}
                for key, node in sorted(self.nodes.items())
            }
        else:
            mapping = {key: dict(node) for key, node in self.nodes.items()}
        return {
            "title": self.title,
            "create_time": self.clock - 1000,
            "update_time": self.clock,
            "mapping": mapping,
            "current_node": self.last,
            "conversation_id": self.id,
            "id": self.id,
            "default_model_slug": "gpt-5",
            "is_archived": False,
        }


def export_zip(path: Path, members: Iterable[tuple[str, bytes]]) -> Path:
    """An export zip of these members, in order."""
    return make_zip(path, list(members))


def conversations_member(threads: Iterable[Thread], *, shard: bool) -> tuple[str, bytes]:
    name = "conversations-000.json" if shard else "conversations.json"
    return name, dumps([t.to_json() for t in threads])


def dat_export_members(
    name_map: Mapping[str, str],
    library: list[dict[str, Any]],
    files: Mapping[str, bytes],
) -> list[tuple[str, bytes]]:
    """The 2026 `.dat` layout's documents and files; the manifest lists every member."""
    members = [
        ("conversation_asset_file_names.json", dumps(dict(name_map))),
        ("library_files.json", dumps(library)),
        *((name, dumps(value)) for name, value in EXPORT_DOCUMENTS_2026.items()),
        *files.items(),
    ]
    listing = [{"path": name, "size_bytes": len(data)} for name, data in members]
    manifest = dumps({"version": 1, "export_files": listing})
    site = dumps({"version": 1, "export_files": []})
    return [*members, ("sites/export_manifest.json", site), ("export_manifest.json", manifest)]


def library_entry(
    file_id: str,
    *,
    thread: str | None,
    message: str | None,
    name: str,
    mime: str,
    artifact: str | None,
    gen_id: str | None = None,
    size: int | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """One `library_files.json` entry with the fields real ones carry."""
    entry: dict[str, Any] = {
        "id": {"id": "libfile_" + file_id[-20:]},
        "file_id": file_id,
        "file_name": name,
        "mime_type": mime,
        "file_size_bytes": size,
        "library_file_category": "image" if mime.startswith("image/") else "other",
        "library_artifact_type": artifact,
        "library_artifact_subtype": None,
        "origination_message_id": message,
        "origination_thread_id": thread,
        "image_gen_generation_id": gen_id,
        "created_at": "2026-09-02T10:15:30.000000+00:00",
        "record_creation_time": "2026-09-02T10:15:30.000000+00:00",
        "version_created_at": "2026-09-02T10:15:30.000000+00:00",
        "current_version_number": None,
        "source_version_number": None,
    }
    if state is not None:
        entry["state"] = state
    return entry
