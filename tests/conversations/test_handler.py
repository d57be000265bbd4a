"""ChatGPT export and privacy-archive handlers, through the real ingest pipeline."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from mediasyncd.app import App
from mediasyncd.config import Config
from mediasyncd.index.reports import iter_matches, iter_unresolved
from mediasyncd.ingest.pipeline import Ingester, IngestSummary

CID = "684a1df7-302c-8005-bf41-d26c56ecdc7f"
CID2 = "8fd0fa6d-7609-4539-bca6-81be74d48e8f"


def _app(tmp_path: Path) -> App:
    return App(Config(), tmp_path / "state")


def _ingest(app: App, *paths: Path) -> IngestSummary:
    return Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths(paths)


def _png(seed: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + seed.to_bytes(4, "big") + os.urandom(64)


def _conversation(
    cid: str, pointer: str | None, *, size: int = 10, tool: bool = False
) -> dict[str, Any]:
    parts: list[Any] = ["hello"]
    author: dict[str, Any] = {"role": "user"}
    metadata: dict[str, Any] = {}
    if pointer:
        part: dict[str, Any] = {
            "content_type": "image_asset_pointer",
            "asset_pointer": pointer,
            "size_bytes": size,
        }
        if tool:
            author = {"role": "tool", "name": "dalle.text2im"}
            part["metadata"] = {"dalle": {"gen_id": "g", "prompt": "p"}}
        parts = [part]
    return {
        "id": cid,
        "conversation_id": cid,
        "title": f"t {cid[:4]}",
        "create_time": 1.0,
        "update_time": 2.0,
        "current_node": "m2",
        "mapping": {
            "m1": {
                "id": "m1",
                "parent": None,
                "children": ["m2"],
                "message": {
                    "id": "m1",
                    "author": author,
                    "metadata": metadata,
                    "content": {"content_type": "multimodal_text", "parts": parts},
                },
            },
            "m2": {
                "id": "m2",
                "parent": "m1",
                "children": [],
                "message": {
                    "id": "m2",
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["ok"]},
                },
            },
        },
    }


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_bad_conversation_is_skipped_and_named_rest_ingested(tmp_path: Path) -> None:
    """One conversation of the wrong shape is recorded as an error; the others land."""
    good = _conversation(CID, "file-service://file-Good0001")
    bad = {"id": "broken-conv", "mapping": ["not", "an", "object"]}
    export = _zip(
        tmp_path / "export.zip",
        {
            "conversations.json": json.dumps([bad, good]).encode(),
            "file-Good0001-photo.png": _png(1),
        },
    )
    app = _app(tmp_path)
    summary = _ingest(app, export)
    assert summary.conversations_new == 1
    assert summary.sources[0]["state"] == "partial"
    messages = [f.error for f in summary.failures]
    assert any("broken-conv" in m and "mapping" in m for m in messages)
    assert [m["strategy"] for m in iter_matches(app.index)] == ["asset_pointer"]


def test_invalid_json_shard_fails_only_that_shard(tmp_path: Path) -> None:
    """Era B: a truncated shard is reported by name; the other shard's conversations land."""
    export = _zip(
        tmp_path / "split.zip",
        {
            "conversations-000.json": json.dumps([_conversation(CID, None)]).encode(),
            "conversations-001.json": b'[{"id": "x", "mapping": {',
        },
    )
    app = _app(tmp_path)
    summary = _ingest(app, export)
    assert summary.conversations_new == 1
    failure = next(f for f in summary.failures if f.member == "conversations-001.json")
    assert "invalid JSON" in failure.error
    assert summary.sources[0]["kind"] == "chatgpt_export"


def test_object_form_and_reingest_is_idempotent(tmp_path: Path) -> None:
    """`{"conversations": [...]}` is read; ingesting the same export again changes nothing."""
    export = _zip(
        tmp_path / "obj.zip",
        {
            "conversations.json": json.dumps(
                {"conversations": [_conversation(CID, None)]}
            ).encode(),
        },
    )
    app = _app(tmp_path)
    assert _ingest(app, export).conversations_new == 1
    copy = tmp_path / "copy.zip"
    copy.write_bytes(export.read_bytes())
    again = _ingest(app, copy)
    assert (again.conversations_new, again.conversations_changed, again.blobs_new) == (0, 0, 0)
    assert app.index.scalar("SELECT COUNT(*) FROM conversations") == 1
    assert app.index.scalar("SELECT COUNT(*) FROM messages") == 2


def test_newer_export_updates_and_older_never_overwrites(tmp_path: Path) -> None:
    """A changed conversation replaces its rows; an older copy dropped later is ignored."""
    old = _conversation(CID, None)
    new = _conversation(CID, None)
    new["title"], new["update_time"] = "renamed", 3.0
    app = _app(tmp_path)
    _ingest(app, _zip(tmp_path / "a.zip", {"conversations.json": json.dumps([old]).encode()}))
    summary = _ingest(
        app, _zip(tmp_path / "b.zip", {"conversations.json": json.dumps([new]).encode()})
    )
    assert summary.conversations_changed == 1
    _ingest(
        app,
        _zip(
            tmp_path / "c.zip",
            {
                "conversations.json": json.dumps([old]).encode(),
                "user.json": b'{"id": "user-1"}',
            },
        ),
    )
    assert app.index.scalar("SELECT title FROM conversations WHERE id = ?", (CID,)) == "renamed"
    assert app.index.scalar("SELECT COUNT(*) FROM messages") == 2


def test_era_c_dat_map_and_library_resolve_across_parts(tmp_path: Path) -> None:
    """The .dat map and library_files.json in one drop resolve files from another drop."""
    sediment = "file_" + "0a" * 16
    conversation = _conversation(CID, f"sediment://{sediment}", size=70, tool=True)
    part1 = _zip(
        tmp_path / "part1.zip",
        {
            "conversations-000.json": json.dumps([conversation]).encode(),
            "conversation_asset_file_names.json": json.dumps(
                {
                    f"{sediment}.dat": "dalle-generations/bdd53f7d-8240-47c6-9a5d-091f78dbaf75.webp",  # noqa: E501
                    "file-Lib0001.dat": "Sample generated artwork.png",
                }
            ).encode(),
            "library_files.json": json.dumps(
                [
                    {
                        "file_id": "file-Lib0001",
                        "file_name": "Sample generated artwork.png",
                        "origination_thread_id": CID2,
                        "origination_message_id": "msg-missing",
                        "image_gen_generation_id": "gen-1",
                        "library_artifact_type": "image",
                    }
                ]
            ).encode(),
            "export_manifest.json": b'{"version": 1, "export_files": []}',
        },
    )
    part2 = _zip(
        tmp_path / "part2.zip",
        {
            f"{sediment}.dat": b"RIFF\x00\x00\x00\x00WEBPVP8 " + os.urandom(50),
            "file-Lib0001.dat": _png(2),
        },
    )
    app = _app(tmp_path)
    _ingest(app, part2)
    summary = _ingest(app, part1)
    assert summary.rematched_conversations >= 2
    matches = {
        (m["conversation_id"], m["message_id"], m["strategy"], m["association"])
        for m in iter_matches(app.index)
    }
    assert (CID, "m1", "asset_pointer", "generated") in matches
    assert (CID, "m2", "asset_pointer", "generated") in matches
    assert (CID2, "msg-missing", "library_origin", "generated") in matches
    webp = app.index.scalar("SELECT mime FROM blobs WHERE size = 66")
    assert webp == "image/webp"


def test_privacy_archive_nested_zips_link_by_folder_and_pin_by_size(tmp_path: Path) -> None:
    """The DALL·E archive's conversation folders link files; a unique size pins a message."""
    image = _png(3)
    other = _png(4) + b"extra"
    dalle_zip = io.BytesIO()
    with zipfile.ZipFile(dalle_zip, "w") as inner:
        base = "personal/dallelabs/user-data/chatgptgenerations/user-x/conversations"
        inner.writestr(f"{base}/{CID}/Z9OIdCXqnSiaH6bc.png", image)
        inner.writestr(f"{base}/{CID}/PtReZyop2mwtYYA9.png", other)
    archive = _zip(
        tmp_path / "privacy.zip",
        {
            "User Online Activity/Dall-E__user-x_dallelabs_1.zip": dalle_zip.getvalue(),
        },
    )
    # The pointer's id is nowhere in the archive; its size equals one of the two images.
    export = _zip(
        tmp_path / "export.zip",
        {
            "conversations.json": json.dumps(
                [
                    _conversation(
                        CID, "file-service://file-NotInArchive1", size=len(image), tool=True
                    )
                ]
            ).encode(),
        },
    )
    app = _app(tmp_path)
    first = _ingest(app, archive)
    assert first.sources[0]["kind"] == "privacy_archive"
    _ingest(app, export)
    links = sorted(
        (m["message_id"] or "", m["strategy"], m["association"]) for m in iter_matches(app.index)
    )
    assert links == [
        ("", "conversation_dir", "generated"),
        ("m1", "conversation_dir", "generated"),
        ("m2", "conversation_dir", "generated"),
    ]
    assert list(iter_unresolved(app.index)) == []


def test_drop_order_does_not_change_matches(tmp_path: Path) -> None:
    """Export then files, or files then export: the same links, and equal to a full rematch."""
    from mediasyncd.conversations.matcher import ConversationMatcher

    conversation = _conversation(CID, "file-service://file-Order0001")
    export_members = {"conversations.json": json.dumps([conversation]).encode()}
    files = {"file-Order0001-a.png": _png(5), "file-Order00012-decoy.png": _png(6)}
    results = []
    for order in ("export-first", "files-first"):
        app = _app(tmp_path / order)
        (tmp_path / order).mkdir()
        export = _zip(tmp_path / order / "export.zip", export_members)
        loose = _zip(tmp_path / order / "files.zip", files)
        _ingest(app, *((export, loose) if order == "export-first" else (loose, export)))
        incremental = sorted(map(str, iter_matches(app.index)))
        ConversationMatcher(app.config).rematch(app.index, None)
        assert sorted(map(str, iter_matches(app.index))) == incremental
        results.append([(m["message_id"], m["strategy"]) for m in iter_matches(app.index)])
        app.close()
    assert results[0] == results[1] == [("m1", "asset_pointer")]
