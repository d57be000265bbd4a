"""Extracting messages and references from conversation objects, on real and built data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.conversations.extract import ConversationShapeError, extract_conversation

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "chatgpt"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _node(nid: str, parent: str | None, children: list[str], message: Any) -> dict[str, Any]:
    return {"id": nid, "parent": parent, "children": children, "message": message}


def test_real_upload_pointer_and_attachment_become_one_attachment_reference() -> None:
    """echomine's real June 2025 conversation: a file-service pointer plus its attachment."""
    data = extract_conversation(_fixture("echomine_golden_002_with_images.raw.json"))
    assert data.id == "684a1df7-302c-8005-bf41-d26c56ecdc7f"
    pointers = [r for r in data.refs if r.key == "file-6y9faxjcnXrzx8UTUQepS7"]
    assert len(pointers) == 1
    ref = pointers[0]
    assert ref.kind == "image_asset_pointer"
    assert ref.extra["association"] == "attachment"
    assert ref.extra["size_bytes"] == 640100
    assert ref.extra["name"] == "BE5F438F-8A64-4D2D-A395-F81569CBD555.jpeg"
    assert ref.message_id == "27329ecf-30a8-4875-a6f5-c884dbfb021e"
    # The root node has no message; every real message is recorded, in tree order.
    assert len(data.messages) == 7
    assert [m.position for m in data.messages] == sorted(m.position for m in data.messages)
    assert all(m.on_current_branch for m in data.messages)


def test_synthetic_content_types_are_all_tolerated() -> None:
    """Unknown content types and a bare sediment pointer do not stop extraction."""
    data = extract_conversation(_fixture("echomine_openai_content_types.synthetic.json")[0])
    assert {m.content_type for m in data.messages} >= {"brand_new_type", "thoughts", "code"}
    sediment = [r for r in data.refs if r.key == "file_abc123"]
    assert len(sediment) == 1
    assert sediment[0].extra["association"] == "inline"


def _dalle_conversation() -> dict[str, Any]:
    return {
        "id": "c1",
        "title": None,
        "current_node": "a2",
        "mapping": {
            "root": _node("root", None, ["u1"], None),
            "u1": _node(
                "u1",
                "root",
                ["t1", "u1b"],
                {
                    "id": "u1",
                    "author": {"role": "user"},
                    "content": {
                        "content_type": "text",
                        "parts": ["draw a cat; see sandbox:/mnt/data/cat_v2.png"],
                    },
                },
            ),
            "t1": _node(
                "t1",
                "u1",
                ["a2"],
                {
                    "id": "t1",
                    "author": {"role": "tool", "name": "dalle.text2im"},
                    "content": {
                        "content_type": "multimodal_text",
                        "parts": [
                            {
                                "content_type": "image_asset_pointer",
                                "asset_pointer": "file-service://file-Dalle000000000000000001",
                                "size_bytes": 4242,
                                "metadata": {"dalle": {"gen_id": "gen-1", "prompt": "a cat"}},
                            }
                        ],
                    },
                },
            ),
            "a2": _node(
                "a2",
                "t1",
                [],
                {
                    "id": "a2",
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["Here is your cat."]},
                },
            ),
            # An edited branch that is not the current thread still references media.
            "u1b": _node(
                "u1b",
                "u1",
                [],
                {
                    "id": "u1b",
                    "author": {"role": "user"},
                    "content": {
                        "content_type": "multimodal_text",
                        "parts": [
                            {
                                "content_type": "real_time_user_audio_video_asset_pointer",
                                "audio_asset_pointer": {
                                    "content_type": "audio_asset_pointer",
                                    "asset_pointer": "sediment://file_" + "ab" * 16,
                                    "format": "wav",
                                    "size_bytes": 99,
                                },
                                "video_container_asset_pointer": None,
                                "frames_asset_pointers": [
                                    {
                                        "asset_pointer": "sediment://file_" + "cd" * 16,
                                        "size_bytes": 5,
                                    },
                                ],
                            }
                        ],
                    },
                    "metadata": {
                        "attachments": [
                            {
                                "id": "file-Pdf00001",
                                "name": "q3.pdf",
                                "mimeType": "application/pdf",
                            },
                        ],
                        "aggregate_result": {
                            "messages": [
                                {
                                    "message_type": "image",
                                    "image_url": "file-service://file-Chart0001",
                                },
                            ]
                        },
                    },
                },
            ),
        },
    }


def test_generated_image_links_tool_and_following_assistant() -> None:
    """A DALL·E tool message's pointer is generated and knows the assistant reply below it."""
    data = extract_conversation(_dalle_conversation())
    ref = next(r for r in data.refs if r.key == "file-Dalle000000000000000001")
    assert ref.message_id == "t1"
    assert ref.extra["association"] == "generated"
    assert ref.extra["following_message_id"] == "a2"
    assert ref.extra["gen_id"] == "gen-1"
    assert ("size", "4242") in ref.more_keys
    assert ("gen_id", "gen-1") in ref.more_keys


def test_every_branch_and_nested_pointer_counts() -> None:
    """Voice audio, video frames, attachments (mimeType spelling) and code images are found."""
    data = extract_conversation(_dalle_conversation())
    by_key = {r.key: r for r in data.refs}
    assert by_key["file_" + "ab" * 16].kind == "audio_asset_pointer"
    assert by_key["file_" + "cd" * 16].kind == "frame_asset_pointer"
    assert by_key["file-Pdf00001"].kind == "attachment"
    assert by_key["file-Pdf00001"].extra["mime_type"] == "application/pdf"
    assert by_key["file-Chart0001"].kind == "code_interpreter_image"
    assert by_key["cat_v2.png"].kind == "text_mention"
    branch = {m.id: m.on_current_branch for m in data.messages}
    assert branch == {"u1": True, "t1": True, "a2": True, "u1b": False}


def test_null_title_and_numeric_ids_are_accepted() -> None:
    """Ids given as numbers are read as text; a null title stays null."""
    conversation = {
        "id": 12345,
        "title": None,
        "mapping": {
            "1": _node(
                "1",
                None,
                [],
                {
                    "id": 7,
                    "author": {"role": "user"},
                    "content": {"content_type": "text", "parts": ["hi"]},
                },
            )
        },
    }
    data = extract_conversation(conversation)
    assert data.id == "12345"
    assert data.title is None
    assert data.messages[0].id == "7"


@pytest.mark.parametrize(
    ("conversation", "message"),
    [
        ([], "must be an object"),
        ({"title": "no id"}, "neither `id` nor `conversation_id`"),
        ({"id": "x", "mapping": []}, "`mapping` must be an object"),
        ({"id": "x", "mapping": {"n": "text"}}, "node n must be an object"),
    ],
)
def test_wrong_shapes_raise_a_named_error(conversation: Any, message: str) -> None:
    """A conversation of the wrong shape is rejected with a message that says what is wrong."""
    with pytest.raises(ConversationShapeError, match=message):
        extract_conversation(conversation)


def test_content_hash_changes_with_content() -> None:
    """The content hash is what decides whether a newer export changed a conversation."""
    first = extract_conversation(_dalle_conversation())
    again = extract_conversation(_dalle_conversation())
    changed = _dalle_conversation()
    changed["title"] = "renamed"
    assert first.content_hash == again.content_hash
    assert extract_conversation(changed).content_hash != first.content_hash
