"""Real media bytes and a ChatGPT export that exercises every part of an export page.

The PNGs and WAVs are valid files (written with zlib/struct and the `wave` module), so a
real browser decodes them. `sample_export` builds one zip with: an uploaded photo, a
DALL·E image with its prompt, a voice clip, an alternative (regenerated) branch, an
attachment and a generated image that are not in the archive (unresolved), a file in a
conversation's own folder (conversation-level), and conversations with hostile, empty,
reserved, over-long and path-like titles.
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

from tests.helpers import make_zip

CID_TRIP = "6a1f2c3d-0000-4000-8000-00000000a001"
CID_HOSTILE = "6a1f2c3d-0000-4000-8000-00000000b002"
CID_PATH = "6a1f2c3d-0000-4000-8000-00000000c003"
CID_RESERVED = "7b2e0000-0000-4000-8000-00000000d004"
CID_UNTITLED = "8c3f0000-0000-4000-8000-00000000e005"
CID_LONG = "9d400000-0000-4000-8000-00000000f006"
CID_CONTROL = "ae510000-0000-4000-8000-000000000a07"

HOSTILE_TITLE = '<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=1"> & co'
HOSTILE_TEXT = (
    "Look: <img src=x onerror=window.__pwned=1> and "
    "[click me](javascript:window.__pwned=1) and "
    '<a href="javascript:window.__pwned=1">a link</a>\n'
    "</div></article><script>window.__pwned=1</script>\n"
    "![[secret note]] %%hidden%% <!-- comment -->\n"
    "```html\n<b>code keeps its tags</b>\n"
)
PROMPT = "A watercolor mountain lake at dawn, <b>not bold</b>"
MISSING_PROMPT = "A red bicycle leaning on a wall"
VOICE_HEX = "0a" * 16
UPLOAD_NAME = "beach photo.png"


def png_bytes(width: int = 96, height: int = 64, seed: int = 0) -> bytes:
    """A valid RGB PNG with a colour gradient that differs by seed."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None
        for x in range(width):
            rows.extend(
                (
                    (x * 255 // max(1, width - 1) + seed * 40) % 256,
                    (y * 255 // max(1, height - 1) + seed * 90) % 256,
                    (seed * 70 + 60) % 256,
                )
            )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def wav_bytes(seconds: float = 0.4, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A valid mono 16-bit WAV with a sine tone."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            frames.extend(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / rate)))
            )
        out.writeframes(bytes(frames))
    return buffer.getvalue()


def node(
    mid: str,
    parent: str | None,
    children: list[str],
    role: str | None,
    parts: list[Any] | None = None,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    create_time: float | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] | None = None
    if role is not None:
        author: dict[str, Any] = {"role": role}
        if name:
            author["name"] = name
        message = {
            "id": mid,
            "author": author,
            "create_time": create_time,
            "metadata": metadata or {},
            "content": {"content_type": "multimodal_text", "parts": parts or []},
        }
    return {"id": mid, "parent": parent, "children": children, "message": message}


def conversation(
    cid: str,
    title: str | None,
    nodes: list[dict[str, Any]],
    current: str,
    *,
    create_time: float = 1_714_560_000.0,
) -> dict[str, Any]:
    return {
        "id": cid,
        "conversation_id": cid,
        "title": title,
        "create_time": create_time,
        "update_time": create_time + 600,
        "current_node": current,
        "default_model_slug": "gpt-4o",
        "mapping": {n["id"]: n for n in nodes},
    }


def simple(cid: str, title: str | None, text: str, *, create_time: float) -> dict[str, Any]:
    return conversation(
        cid,
        title,
        [
            node("root", None, ["u1"], None),
            node("u1", "root", ["a1"], "user", [text], create_time=create_time),
            node("a1", "u1", [], "assistant", ["Sure."], create_time=create_time + 5),
        ],
        "a1",
        create_time=create_time,
    )


def trip_conversation() -> dict[str, Any]:
    t = 1_714_560_000.0
    upload = {
        "content_type": "image_asset_pointer",
        "asset_pointer": "file-service://file-Upload0001",
        "size_bytes": 1000,
        "width": 96,
        "height": 64,
    }
    dalle = {
        "content_type": "image_asset_pointer",
        "asset_pointer": "file-service://file-Dalle0001",
        "size_bytes": 2000,
        "metadata": {"dalle": {"gen_id": "gen1", "prompt": PROMPT}},
    }
    gone = {
        "content_type": "image_asset_pointer",
        "asset_pointer": "file-service://file-GoneDalle01",
        "size_bytes": 3000,
        "metadata": {"dalle": {"gen_id": "gen2", "prompt": MISSING_PROMPT}},
    }
    voice = {
        "content_type": "audio_asset_pointer",
        "asset_pointer": f"sediment://file_{VOICE_HEX}",
        "size_bytes": 6444,
        "format": "wav",
    }
    nodes = [
        node("root", None, ["sys"], None),
        node("sys", "root", ["u1"], "system", [""]),
        node(
            "u1",
            "sys",
            ["a1"],
            "user",
            [upload, "Here is my photo from the beach."],
            metadata={
                "attachments": [
                    {"id": "file-Upload0001", "name": UPLOAD_NAME, "mime_type": "image/png"}
                ]
            },
            create_time=t,
        ),
        node("a1", "u1", ["tool1"], "assistant", ["Lovely! Let me paint one."], create_time=t + 5),
        node("tool1", "a1", ["a2"], "tool", [dalle], name="dalle.text2im", create_time=t + 20),
        node("a2", "tool1", ["u2"], "assistant", ["Here is your painting."], create_time=t + 21),
        node("u2", "a2", ["a3b", "a3"], "user", [voice, "(voice) what now?"], create_time=t + 60),
        node("a3b", "u2", [], "assistant", ["An older answer, regenerated."], create_time=t + 61),
        node("a3", "u2", ["u3"], "assistant", ["Now the report."], create_time=t + 62),
        node(
            "u3",
            "a3",
            ["tool2"],
            "user",
            ["Attaching the report."],
            metadata={
                "attachments": [{"id": "file-Missing0001", "name": "report_q3.pdf", "size": 5000}]
            },
            create_time=t + 90,
        ),
        node("tool2", "u3", ["a4"], "tool", [gone], name="dalle.text2im", create_time=t + 95),
        node("a4", "tool2", [], "assistant", ["Done."], create_time=t + 96),
    ]
    return conversation(CID_TRIP, "Trip planning 🏔️ & <b>notes</b>", nodes, "a4", create_time=t)


def hostile_conversation() -> dict[str, Any]:
    t = 1_714_646_400.0
    pointer = {
        "content_type": "image_asset_pointer",
        "asset_pointer": "file-service://file-Hostile001",
        "size_bytes": 999,
    }
    nodes = [
        node("root", None, ["u1"], None),
        node(
            "u1",
            "root",
            ["a1"],
            "user",
            [pointer, HOSTILE_TEXT],
            metadata={
                "attachments": [
                    {"id": "file-Hostile001", "name": '../../"><img src=x onerror=alert(1)>.png'}
                ]
            },
            create_time=t,
        ),
        node("a1", "u1", [], "assistant", ["I will not run that."], create_time=t + 3),
    ]
    return conversation(CID_HOSTILE, HOSTILE_TITLE, nodes, "a1", create_time=t)


def sample_conversations() -> list[dict[str, Any]]:
    return [
        trip_conversation(),
        hostile_conversation(),
        simple(CID_PATH, "../../etc/passwd", "Path-like title", create_time=1_714_732_800.0),
        simple(CID_RESERVED, "CON", "A reserved name", create_time=1_714_819_200.0),
        simple(CID_UNTITLED, None, "No title at all", create_time=1_714_905_600.0),
        simple(CID_LONG, "Very long title " * 30, "Long", create_time=1_714_992_000.0),
        simple(
            CID_CONTROL,
            "tab\there\x00nul\u202eevil\nline/slash\\back",
            "Control characters",
            create_time=1_715_078_400.0,
        ),
    ]


def sample_media() -> dict[str, bytes]:
    return {
        f"file-Upload0001-{UPLOAD_NAME}": png_bytes(seed=1),
        "file-Dalle0001-2f1c33a4-9f7e-4a51-b1a8-0d6fb0e2c111.png": png_bytes(160, 120, seed=2),
        f"{CID_TRIP}/audio/file_{VOICE_HEX}-6d2d1f6c-0b7e-4d53-8f37-2a3f4b5c6d7e.wav": wav_bytes(),
        "file-Hostile001-evil.png": png_bytes(seed=3),
        # In the conversation's own folder with no pointer to it: a conversation-level file.
        f"{CID_PATH}/images/sketch.png": png_bytes(seed=4),
    }


def sample_export(path: Path, conversations: list[dict[str, Any]] | None = None) -> Path:
    members = {"conversations.json": json.dumps(conversations or sample_conversations()).encode()}
    members.update(sample_media())
    return make_zip(path, members)


def export_zip(path: Path, conversations: list[dict[str, Any]], media: dict[str, bytes]) -> Path:
    members = {"conversations.json": json.dumps(conversations).encode()}
    members.update(media)
    return make_zip(path, members)
