"""The JSON nesting limit (limits.max_json_depth, mediasyncd.jsonstream): documents nested
far too deep, in every kind of JSON a drop carries, ingested by the real CLI in a child
process whose peak memory is measured. Each is reported by member, the rest of the drop
lands, and memory stays bounded (ijson alone took 24 GB for 100,000 levels)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mediasyncd import jsonstream
from tests.drops import conversations_json, photo_conversation
from tests.helpers import make_zip, media_bytes, write_files
from tests.reliability.support import MAX_RSS_BYTES, run_measured

LIMIT_TEXT = "JSON nested deeper than limits.max_json_depth (128)"


def deep(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def _conversations_with_deep_parts(depth: int) -> bytes:
    """Two good conversations, then one whose message parts nest `depth` deep."""
    good = json.dumps([photo_conversation(0), photo_conversation(1)])
    bad = json.dumps(photo_conversation(2)).replace('"parts": [', f'"parts": [{deep(depth)}, ', 1)
    return f"{good[:-1]}, {bad}]".encode()


def _trace(depth: int) -> str:
    head = '{"id": "deep-trace", "timestamp": "2025-01-31T12:00:00Z", "userId": "u1", "input": '
    return head + deep(depth) + "}"


def _zip_of(member: str, data: str | bytes) -> Callable[[Path], Path]:
    raw = data.encode() if isinstance(data, str) else data
    return lambda folder: make_zip(folder / "deep.zip", {member: raw})


def _export_with(member: str, data: str) -> Callable[[Path], Path]:
    """A ChatGPT export whose `member` is `data`, beside one good conversation."""
    entries = {"conversations.json": conversations_json(1), member: data.encode()}
    return lambda folder: make_zip(folder / "export.zip", entries)


def _folder_of(name: str, files: dict[str, bytes]) -> Callable[[Path], Path]:
    return lambda folder: write_files(folder / name, files)


def _listing_with(value: str) -> str:
    entry = '{"Key": "meal-images/u1/IMG_20250131_120000.jpg", "Size": 900}'
    return f'{{"Contents": [{entry}, {value}]}}'


PHOTO = {"meal-images/u1/IMG_20250131_120000.jpg": media_bytes(900, "deep-photo", "jpeg")}
DEEP = deep(40_000)

# name: (builder, member named in the problem)
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "conversations-100k": (_zip_of("conversations.json", deep(100_000)), "conversations.json"),
    "conversations-20k": (_zip_of("conversations.json", deep(20_000)), "conversations.json"),
    "parts-50k": (
        _zip_of("conversations.json", _conversations_with_deep_parts(50_000)),
        "conversations.json",
    ),
    "langfuse-30k": (
        _folder_of("traces", {"traces.json": f"[{_trace(30_000)}]".encode()}),
        "traces.json",
    ),
    "langfuse-lines": (
        _folder_of("traces", {"traces.jsonl": f"{_trace(1)}\n{_trace(30_000)}\n".encode()}),
        "traces.jsonl",
    ),
    "library-files": (_export_with("library_files.json", f"[{DEEP}]"), "library_files.json"),
    "dat-name-map": (
        _export_with("conversation_asset_file_names.json", f'{{"x.dat": {DEEP}}}'),
        "conversation_asset_file_names.json",
    ),
    "export-manifest": (
        _export_with("export_manifest.json", f'{{"export_files": {DEEP}}}'),
        "export_manifest.json",
    ),
    "chat-html": (
        _export_with("chat.html", f'<script>var assetsJson = {{"a": {DEEP}}};</script>'),
        "chat.html",
    ),
    "image-listing": (
        _folder_of("meal-images", {**PHOTO, "listing.json": _listing_with(DEEP).encode()}),
        "listing.json",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_deep_json_is_reported_by_member_in_bounded_memory(tmp_path: Path, name: str) -> None:
    build, member = CASES[name]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    drop = build(inputs)
    run = run_measured(["--state-dir", str(tmp_path / "state"), "ingest", "--json", str(drop)])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert 0 < run.max_rss_bytes < MAX_RSS_BYTES, run.max_rss_bytes
    summary = json.loads(run.stdout)
    (source,) = summary["sources"]
    assert source["state"] == "partial", source
    assert run.returncode == 3
    assert any(
        p["member"] is not None and p["member"].endswith(member) and LIMIT_TEXT in p["error"]
        for p in source["problems"]
    ), source["problems"]


def test_what_came_before_the_deep_part_is_kept(tmp_path: Path) -> None:
    """The two conversations before the one with deep parts are stored and matched."""
    drop = make_zip(
        tmp_path / "deep.zip",
        {
            "conversations.json": _conversations_with_deep_parts(50_000),
            "file-Photo000000-a.png": media_bytes(1500, "outcome-photo-0"),
        },
    )
    run = run_measured(["--state-dir", str(tmp_path / "state"), "ingest", "--json", str(drop)])
    summary = json.loads(run.stdout)
    assert summary["conversations_new"] == 2
    (problem,) = summary["sources"][0]["problems"]
    assert "after 2 conversation(s)" in problem["error"]


def test_the_guard_matches_ijson_below_the_limit() -> None:
    """Below the limit the guarded reader yields exactly ijson's items, in every shape
    it is used with (an array, a prefix inside objects, concatenated documents)."""
    import ijson

    documents = [
        (b'[1, {"a": [2, {"b": null}]}, "x", [[[]]]]', "item", False),
        (b'{"conversations": [{"id": 1}, {"id": 2}], "x": [[1]]}', "conversations.item", False),
        (b'{"data": [{"t": 1}]} {"data": [{"t": 2}, {"t": [3]}]}', "data.item", True),
        (json.dumps([deep(100) for _ in range(300)]).encode(), "item", False),
    ]
    for data, prefix, multiple in documents:
        expected = list(ijson.items(io.BytesIO(data), prefix, multiple_values=multiple))
        found = list(jsonstream.items(io.BytesIO(data), prefix, multiple_values=multiple))
        assert json.dumps(found) == json.dumps(expected, default=float)


def test_the_guard_stops_exactly_past_the_limit() -> None:
    """Depth 128 passes, 129 does not; a text with fewer brackets than the limit is not
    even parsed twice."""
    ok = f"[{deep(127)}]".encode()
    assert len(list(jsonstream.items(io.BytesIO(ok), "item"))) == 1
    with pytest.raises(jsonstream.JsonTooDeep):
        list(jsonstream.items(io.BytesIO(f"[{deep(128)}]".encode()), "item"))
    assert jsonstream.loads(deep(128)) is not None
    with pytest.raises(ValueError, match="max_json_depth"):
        jsonstream.loads(deep(129))
