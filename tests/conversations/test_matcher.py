"""The conversation matcher on hand-built indexes: each strategy, and what must not link."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.config import load_config
from mediasyncd.conversations.matcher import ConversationMatcher
from mediasyncd.index.reports import iter_matches
from mediasyncd.ingest.pipeline import Ingester
from tests.engines import BOTH

pytestmark = BOTH

A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"


def _message(
    mid: str,
    parent: str | None,
    children: list[str],
    role: str,
    parts: list[Any],
    name: str | None = None,
) -> dict[str, Any]:
    author: dict[str, Any] = {"role": role}
    if name:
        author["name"] = name
    return {
        "id": mid,
        "parent": parent,
        "children": children,
        "message": {
            "id": mid,
            "author": author,
            "content": {"content_type": "multimodal_text", "parts": parts},
        },
    }


def _conv(cid: str, *nodes: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": cid,
        "title": cid[:4],
        "mapping": {n["id"]: n for n in nodes},
        "current_node": nodes[-1]["id"],
    }


# Apps _setup made, closed after each test (a PostgreSQL connection must be closed).
_APPS: list[App] = []


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    while _APPS:
        _APPS.pop().close()


def _setup(tmp_path: Path, conversations: list[dict[str, Any]], files: dict[str, bytes]) -> App:
    # The config of the engine the test runs on (tests/engines.py), else the defaults.
    app = App(load_config(), tmp_path / "state")
    _APPS.append(app)
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("conversations.json", json.dumps(conversations))
        for name, data in files.items():
            archive.writestr(name, data)
    Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([export])
    return app


def _png(extra: bytes = b"") -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(32) + extra


def _links(app: App) -> list[tuple[Any, ...]]:
    return sorted(
        (m["conversation_id"], m["message_id"] or "", m["strategy"], m["association"])
        for m in iter_matches(app.index)
    )


def test_text_mention_never_crosses_conversations(tmp_path: Path) -> None:
    """A name mentioned in A does not link B's file of that name; within scope it pins."""
    report = b"%PDF-1.4 " + os.urandom(40)
    conv_a = _conv(A, _message("a1", None, [], "user", ["see report_q3.pdf please"]))
    conv_b = _conv(
        B,
        _message(
            "b1",
            None,
            [],
            "user",
            [{"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-Rep1"}],
        ),
        _message("b2", "b1", [], "assistant", ["I read report_q3.pdf"]),
    )
    app = _setup(tmp_path, [conv_a, conv_b], {"file-Rep1-report_q3.pdf": report})
    assert _links(app) == [
        (B, "b1", "asset_pointer", "inline"),
        (B, "b2", "text_mention", "inline"),
    ]


def test_file_id_in_two_files_links_both_deterministically(tmp_path: Path) -> None:
    """Two different files carrying one id are both linked, with lowered confidence."""
    conv = _conv(
        A,
        _message(
            "a1",
            None,
            [],
            "user",
            [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://file-Twice1",
                }
            ],
        ),
    )
    app = _setup(
        tmp_path, [conv], {"file-Twice1-one.png": _png(b"1"), "sub/file-Twice1-two.png": _png(b"2")}
    )
    matches = list(iter_matches(app.index))
    assert len(matches) == 2
    assert {m["confidence"] for m in matches} == {0.9}
    first = [m["digest"] for m in matches]
    ConversationMatcher(app.config).rematch(app.index, None)
    assert [m["digest"] for m in iter_matches(app.index)] == first


def test_id_less_generated_image_matches_by_unique_size_only(tmp_path: Path) -> None:
    """A DALL·E file with no id links by size when exactly one pointer and one file share it."""
    unique = b"RIFF\x00\x00\x00\x00WEBPVP8 " + os.urandom(100)
    twin_a = b"RIFF\x00\x00\x00\x00WEBPVP8 " + os.urandom(200)
    twin_b = b"RIFF\x00\x00\x00\x00WEBPVP8 " + os.urandom(200)

    def tool(cid: str, mid: str, size: int) -> dict[str, Any]:
        return _conv(
            cid,
            _message(
                mid,
                None,
                [],
                "tool",
                [
                    {
                        "content_type": "image_asset_pointer",
                        "asset_pointer": f"file-service://file-Gone{mid}",
                        "size_bytes": size,
                        "metadata": {"dalle": {"gen_id": f"g{mid}", "prompt": "x"}},
                    }
                ],
                name="dalle.text2im",
            ),
        )

    app = _setup(
        tmp_path,
        [tool(A, "a1", len(unique)), tool(B, "b1", len(twin_a))],
        {
            "dalle-generations/0b1c2d3e-0000-4000-8000-000000000001.webp": unique,
            "dalle-generations/0b1c2d3e-0000-4000-8000-000000000002.webp": twin_a,
            "dalle-generations/0b1c2d3e-0000-4000-8000-000000000003.webp": twin_b,
        },
    )
    # Two files share B's size: ambiguous, so B stays unresolved rather than guessing.
    assert _links(app) == [(A, "a1", "size", "generated")]


def test_stronger_link_hides_conversation_level_duplicate(tmp_path: Path) -> None:
    """A file linked to a message by id is not listed again at conversation level."""
    voice = b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(30)
    sediment = "file_" + "ee" * 16
    conv = _conv(
        A,
        _message(
            "a1",
            None,
            [],
            "user",
            [
                {
                    "content_type": "real_time_user_audio_video_asset_pointer",
                    "audio_asset_pointer": {
                        "content_type": "audio_asset_pointer",
                        "asset_pointer": f"sediment://{sediment}",
                        "format": "wav",
                    },
                }
            ],
        ),
    )
    app = _setup(tmp_path, [conv], {f"{A}/audio/{sediment}-0a0b.wav": voice})
    assert _links(app) == [(A, "a1", "asset_pointer", "inline")]
    mime = app.index.scalar("SELECT mime FROM blobs WHERE size = ?", (len(voice),))
    assert mime == "audio/wav"


def test_two_references_to_one_file_in_a_message_are_both_resolved(tmp_path: Path) -> None:
    """A library entry and a pointer naming one file keep one link row; neither reference
    is then listed as unresolved."""
    from mediasyncd.index.reports import iter_unresolved

    conv = _conv(
        A,
        _message(
            "a1",
            None,
            [],
            "user",
            [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://file-Both1",
                },
                {"content_type": "image_asset_pointer", "asset_pointer": "sediment://file_00aa"},
            ],
        ),
    )
    same = _png(b"b")
    app = _setup(tmp_path, [conv], {"file-Both1-x.png": same, "file_00aa-x.png": same})
    assert len(list(iter_matches(app.index))) == 1
    assert list(iter_unresolved(app.index)) == []
    status_refs = app.index.scalar(
        "SELECT COUNT(*) FROM refs r "
        "WHERE EXISTS (SELECT 1 FROM resolved_refs x WHERE x.ref_id = r.id)"
    )
    assert status_refs == 1


def test_count_pin_ignores_a_lone_sandbox_file(tmp_path: Path) -> None:
    """One unresolved DALL·E pointer and one code-interpreter chart in the conversation's
    folder: the chart stays a conversation-level file, it is no evidence for the image."""
    conv = _conv(
        A,
        _message(
            "a1",
            None,
            [],
            "tool",
            [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://file-NotHere1",
                    "size_bytes": 1,
                    "metadata": {"dalle": {"gen_id": "g", "prompt": "p"}},
                }
            ],
            name="dalle.text2im",
        ),
    )
    chart = f"personal/files/{A}/0b7c2a55-2d8f-4a0e-9d7a-6a6e0f0c1d2e/mnt/data/chart.png"
    app = _setup(tmp_path, [conv], {chart: _png(b"c")})
    assert _links(app) == [(A, "", "conversation_dir", "inline")]
