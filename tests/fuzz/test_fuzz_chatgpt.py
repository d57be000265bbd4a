"""Property-based fuzzing of the ChatGPT readers: no input raises anything unexpected.

Any JSON value may come out of an export; the extractor either returns rows or raises
ConversationShapeError. Any bytes may be dropped as a zip or a shard; the walker raises
SourceError or yields members/rejections, and the conversation stream records an error.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediasyncd.config import LimitsConfig
from mediasyncd.conversations.extract import ConversationShapeError, extract_conversation
from mediasyncd.conversations.parse import ConversationStream
from mediasyncd.errors import SourceError
from mediasyncd.sources.container import ContainerWalker, Member

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "mapping",
                    "message",
                    "parent",
                    "children",
                    "content",
                    "parts",
                    "author",
                    "role",
                    "name",
                    "metadata",
                    "attachments",
                    "asset_pointer",
                    "content_type",
                    "aggregate_result",
                    "messages",
                    "image_url",
                    "current_node",
                    "title",
                    "size_bytes",
                    "dalle",
                    "gen_id",
                    "conversation_id",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)

POINTERS = st.sampled_from(
    ["file-service://file-abc", "sediment://file_00ff", "", "://", "file-service://", 7]
)


def _conversationish() -> st.SearchStrategy[Any]:
    message = st.fixed_dictionaries(
        {
            "id": st.text(max_size=4) | st.integers(),
            "author": JSON,
            "content": st.fixed_dictionaries(
                {
                    "content_type": st.sampled_from(["text", "multimodal_text", "x"]),
                    "parts": st.lists(
                        JSON
                        | st.fixed_dictionaries(
                            {
                                "content_type": st.just("image_asset_pointer"),
                                "asset_pointer": POINTERS,
                                "size_bytes": JSON,
                                "metadata": JSON,
                            }
                        ),
                        max_size=3,
                    ),
                }
            ),
            "metadata": JSON,
        },
    )
    node = st.fixed_dictionaries(
        {
            "parent": st.none() | st.sampled_from(["a", "b", "c"]),
            "children": st.lists(st.sampled_from(["a", "b", "c", "d"]) | JSON, max_size=3),
            "message": st.none() | message | JSON,
        },
    )
    return st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=5) | JSON,
            "mapping": st.dictionaries(st.sampled_from(["a", "b", "c"]), node | JSON, max_size=3)
            | JSON,
            "current_node": st.sampled_from(["a", "b", "zz"]) | JSON,
        },
    )


@settings(max_examples=400, deadline=None)
@given(_conversationish() | JSON)
def test_extract_raises_only_shape_errors(value: Any) -> None:
    """Whatever the JSON, extraction returns rows or a ConversationShapeError."""
    try:
        data = extract_conversation(value)
    except ConversationShapeError:
        return
    assert data.id
    for ref in data.refs:
        assert ref.key


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_conversation_stream_never_raises(tmp_path: Path, payload: bytes) -> None:
    """Bad shard bytes end the stream with a recorded error, never an exception."""
    path = tmp_path / "shard.json"
    path.write_bytes(payload)
    stream = ConversationStream(functools.partial(path.open, "rb"))
    items = list(stream)
    assert stream.count == len(items)


def _zip_bytes(names: list[str], data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in dict.fromkeys(names):  # writing a duplicate name only warns; skip it
            info = zipfile.ZipInfo(name or "x")
            archive.writestr(info, data)
    return buffer.getvalue()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4),
    st.binary(max_size=64),
    st.integers(min_value=0, max_value=400),
    st.binary(max_size=8),
)
def test_walker_on_mangled_zips_raises_only_source_errors(
    tmp_path: Path, names: list[str], data: bytes, cut: int, garbage: bytes
) -> None:
    """Truncated, patched or odd-named zips give members, rejections or a SourceError."""
    raw = bytearray(_zip_bytes(names, data))
    position = min(cut, len(raw))
    raw[position : position + len(garbage)] = garbage
    path = tmp_path / "drop.zip"
    path.write_bytes(bytes(raw))
    walker = ContainerWalker(
        path, LimitsConfig(), spool_dir=tmp_path / "spool", expand=lambda p: True
    )
    try:
        for item in walker.walk():
            if isinstance(item, Member):
                try:
                    with item.open() as stream:
                        stream.read()
                except Exception as exc:  # ingest wraps each of these per member
                    assert isinstance(
                        exc,
                        zipfile.BadZipFile
                        | OSError
                        | EOFError
                        | ValueError
                        | NotImplementedError
                        | RuntimeError
                        | zlib.error,
                    ), repr(exc)
    except SourceError as exc:
        assert str(path) in str(exc)
