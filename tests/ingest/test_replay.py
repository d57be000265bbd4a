"""Rebuilding the index from the store alone ends with the same matches."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from mediasyncd.app import App
from mediasyncd.config import load_config
from mediasyncd.index.reports import iter_matches, iter_unresolved
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.ingest.replay import reindex
from mediasyncd.store.manifest import MANIFEST_MEMBER, find_manifests, read_manifest
from tests.engines import BOTH

pytestmark = BOTH

CID = "684a1df7-302c-8005-bf41-d26c56ecdc7f"


def _export(path: Path) -> Path:
    conversation = {
        "id": CID,
        "title": "cats",
        "current_node": "a",
        "mapping": {
            "u": {
                "id": "u",
                "parent": None,
                "children": ["t"],
                "message": {
                    "id": "u",
                    "author": {"role": "user"},
                    "metadata": {
                        "attachments": [
                            {"id": "file-Up1", "name": "cat.png"},
                            {"id": "file-Gone1", "name": "x.pdf"},
                        ]
                    },
                    "content": {
                        "content_type": "multimodal_text",
                        "parts": [
                            {
                                "content_type": "image_asset_pointer",
                                "asset_pointer": "file-service://file-Up1",
                            }
                        ],
                    },
                },
            },
            "t": {
                "id": "t",
                "parent": "u",
                "children": ["a"],
                "message": {
                    "id": "t",
                    "author": {"role": "tool", "name": "dalle.text2im"},
                    "content": {
                        "content_type": "multimodal_text",
                        "parts": [
                            {
                                "content_type": "image_asset_pointer",
                                "asset_pointer": "file-service://file-Gen1",
                                "size_bytes": 40,
                                "metadata": {"dalle": {"gen_id": "g", "prompt": "cat"}},
                            }
                        ],
                    },
                },
            },
            "a": {
                "id": "a",
                "parent": "t",
                "children": [],
                "message": {
                    "id": "a",
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["done"]},
                },
            },
        },
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conversations.json", json.dumps([conversation]))
        archive.writestr("file-Up1-cat.png", b"\x89PNG\r\n\x1a\n" + os.urandom(30))
    return path


def _privacy(path: Path) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as dalle:
        dalle.writestr(
            "personal/dallelabs/user-data/chatgptgenerations/user-x/conversations/"
            f"{CID}/Z9OIdCXqnSiaH6bc.png",
            b"\x89PNG\r\n\x1a\n" + os.urandom(32),
        )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("User Online Activity/Dall-E__user-x_dallelabs_1.zip", inner.getvalue())
    return path


def test_reindex_from_store_alone_gives_the_same_matches(tmp_path: Path) -> None:
    """Drops deleted, index rebuilt from manifests and stored documents: same links."""
    app = App(load_config(), tmp_path / "state")
    drops = [_export(tmp_path / "export.zip"), _privacy(tmp_path / "privacy.zip")]
    Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths(drops)
    before = sorted(json.dumps(m, sort_keys=True) for m in iter_matches(app.index))
    unresolved_before = sorted(json.dumps(r, sort_keys=True) for r in iter_unresolved(app.index))
    # The upload on its message; the DALL·E folder file pinned (by size) to the tool
    # message and the assistant reply after it.
    assert len(before) == 3
    app.close()
    for drop in drops:
        drop.unlink()

    summary = reindex(app.state_dir, app.config, app.store)

    assert summary.sources == 2
    assert summary.missing_objects == []
    assert summary.previous_index is not None
    if app.location.is_postgres:
        # The old schema is kept beside the new one, renamed.
        kept = summary.previous_index.split("(schema ")[1].rstrip(")")
        assert app.index.scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = ?", (kept,))
    else:
        assert Path(summary.previous_index).exists()
    after = sorted(json.dumps(m, sort_keys=True) for m in iter_matches(app.index))
    assert after == before
    assert sorted(json.dumps(r, sort_keys=True) for r in iter_unresolved(app.index)) == (
        unresolved_before
    )
    assert app.index.scalar("SELECT COUNT(*) FROM conversations") == 1
    app.close()


def test_every_source_has_a_manifest_object(tmp_path: Path) -> None:
    """Each drop's manifest is an object in the store and an occurrence of the drop."""
    app = App(load_config(), tmp_path / "state")
    drop = _export(tmp_path / "export.zip")
    Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([drop])
    found = list(find_manifests(app.store))
    assert len(found) == 1
    manifest = read_manifest(app.store, found[0])
    assert manifest.source == str(drop)
    assert manifest.kind == "chatgpt_export"
    assert {m.member for m in manifest.members} == {"conversations.json", "file-Up1-cat.png"}
    recorded = app.index.scalar(
        "SELECT digest FROM occurrences WHERE member = ?", (MANIFEST_MEMBER,)
    )
    assert recorded == found[0]
    assert app.index.scalar("SELECT manifest_digest FROM sources") == found[0]
    app.close()
