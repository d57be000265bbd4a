"""Property-based fuzzing (Hypothesis) of the trace and image-dump readers: no input makes
them raise; everything wrong comes back as a Problem, None, or a recorded failure.

The ChatGPT readers and the zip walker are fuzzed in tests/fuzz/test_fuzz_chatgpt.py.
Here: the Langfuse trace reader on arbitrary bytes and on trace-shaped JSON of any value
types in every accepted layout (array, page, download, JSON lines, CSV); the clocks an
image dump is timed by (listing times, EXIF from mangled JPEGs, names, mtimes); the
placement of members; and whole image-dump and trace drops ingested end to end with
a random listing or trace file (so the handler's own glue is fuzzed too).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mediasyncd.app import App
from mediasyncd.config import Config, ImagesConfig
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.traces.image_dump import listing_key, place
from mediasyncd.traces.imagetime import (
    exif_times,
    filename_time,
    mtime_time,
    parse_listing_time,
)
from mediasyncd.traces.parse import (
    Problem,
    TraceRecord,
    decode_json_text,
    looks_like_trace_export,
    parse_time,
    read_traces,
)
from tests.support.traces_gen import BASE, jpeg

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["2025-01-31T12:00:00Z", "2025-01-31 12:00:00+07:00", "1738324800", ""])
)
TRACE_KEYS = [
    "id",
    "timestamp",
    "startTime",
    "name",
    "userId",
    "user_id",
    "sessionId",
    "input",
    "output",
    "metadata",
    "tags",
    "totalCost",
    "observations",
    "traceId",
    "model",
    "usage",
    "calculatedTotalCost",
    "type",
    "image_url",
    "url",
    "data",
    "meta",
    "trace",
    "projectId",
]
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(TRACE_KEYS) | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=25,
)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _opener(data: bytes) -> Any:
    return lambda: io.BytesIO(data)


def _drain(data: bytes) -> list[TraceRecord | Problem]:
    found = list(read_traces(_opener(data)))
    assert all(isinstance(item, TraceRecord | Problem) for item in found)
    return found


def _as_layout(traces: list[Any], layout: str) -> bytes:
    if layout == "array":
        return json.dumps(traces).encode()
    if layout == "page":
        return json.dumps({"data": traces, "meta": {"page": 1}}).encode()
    if layout == "download":
        first = traces[0] if traces else {}
        return json.dumps({"trace": first, "observations": traces[1:]}).encode()
    if layout == "jsonl":
        return "".join(json.dumps(t) + "\n" for t in traces).encode()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "timestamp", "userId", "input", "metadata"])
    for trace in traces:
        row = trace if isinstance(trace, dict) else {"id": trace}
        writer.writerow(
            [json.dumps(row.get(k)) for k in ("id", "timestamp", "userId", "input", "metadata")]
        )
    return out.getvalue().encode()


@FUZZ
@given(st.binary(max_size=600))
@example(b'[{"id": "t", "timestamp": "2025-01-31T12:00:00Z", "userId": "u", "input": [')
@example(b"\xef\xbb\xbf" + b'id,timestamp,userId\n"t",\x00,\xff\n')
@example(b'{"trace": {"id": "t"}, "observations": [{"traceId": "t", "input": {"x": ')
# Found by this test on a random run of main: TypeError: 'bool' object is not iterable.
@example(b'[{"id": "t", "timestamp": "2025-01-31T12:00:00Z", "userId": "u", "observations": true}]')
@example(b'{"trace": {"id": "t", "timestamp": 1738324800, "userId": "u", "observations": 1}}')
def test_trace_reader_on_any_bytes(data: bytes) -> None:
    """Arbitrary bytes (and cut-off JSON, NULs, bad UTF-8): records and Problems only."""
    looks_like_trace_export(data)
    _drain(data)


@FUZZ
@given(
    st.lists(JSON, max_size=5),
    st.sampled_from(["array", "page", "download", "jsonl", "csv"]),
    st.integers(min_value=0, max_value=400),
)
def test_trace_reader_on_trace_shaped_json(traces: list[Any], layout: str, cut: int) -> None:
    """Trace-like objects with values of any type, in every layout, whole or cut short."""
    data = _as_layout(traces, layout)
    _drain(data)
    _drain(data[:cut])


@FUZZ
@given(JSON)
def test_time_and_text_decoding_never_raise(value: Any) -> None:
    """Any JSON value as a trace time, a listing time or a JSON-encoded text cell."""
    parse_time(value)
    parse_listing_time(value)
    decode_json_text(value)
    if isinstance(value, str):
        decode_json_text(json.dumps(value))


@FUZZ
@given(
    st.text(max_size=60)
    | st.from_regex(
        r"(IMG_)?(19|20|21|99)\d\d[-_]?[0-1]\d[-_]?[0-3]\d[T_ ]?\d{6}([+-]\d\d:?\d\d|Z)?\.jpg"
    ),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.booleans(),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_image_clocks_never_raise(name: str, mtime_ns: int, from_zip: bool, minutes: int) -> None:
    """File-name stamps of any shape and mtimes of any size (a damaged manifest could
    carry one) give a plausible UTC time or None."""
    zone = timezone(timedelta(minutes=minutes))
    for found in (
        filename_time(name, zone),
        mtime_time(mtime_ns, from_zip=from_zip, naive_zone=zone),
    ):
        assert found is None or found.tzinfo is not None


_JPEG = jpeg("fuzz-exif", taken=BASE, offset="+07:00")


@FUZZ
@given(
    st.integers(min_value=0, max_value=len(_JPEG) - 1),
    st.binary(min_size=1, max_size=16),
    st.booleans(),
)
def test_exif_of_mangled_jpegs(position: int, patch: bytes, truncate: bool) -> None:
    """A real JPEG with EXIF DateTimeOriginal/OffsetTimeOriginal, overwritten or cut at
    any point: a time or (None, None), never an exception."""
    data = bytearray(_JPEG)
    data[position : position + len(patch)] = patch
    if truncate:
        data = data[: position + 1]
    exact, local = exif_times(io.BytesIO(bytes(data)), UTC)
    assert exact is None or local is None


@FUZZ
@given(
    st.text(max_size=40),
    st.lists(st.text(max_size=12), max_size=5).map("/".join),
    st.text(max_size=20),
    st.integers(min_value=-2, max_value=5),
)
def test_placement_of_any_member(label: str, member: str, prefix: str, position: int) -> None:
    """Any drop name, member path, configured prefix and user position: a placement whose
    user is a path component, or None."""
    images = ImagesConfig(prefix=prefix, user_id_position=position)
    found = place(Path(label or "x"), member, images)
    if found is not None:
        assert found.user_id.strip()
    listing_key(member, images)


_ENDTOEND = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _ingest(tmp_path: Path, drop: Path) -> None:
    app = App(Config(), tmp_path / "state")
    try:
        summary = Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([drop])
        assert [s["state"] for s in summary.sources] in (["ok"], ["partial"], ["failed"])
    finally:
        app.close()


@_ENDTOEND
@given(
    st.one_of(
        JSON.map(lambda v: json.dumps({"Contents": v}).encode()),
        st.lists(JSON, max_size=4).map(lambda v: json.dumps({"Contents": v}).encode()),
        st.binary(max_size=300).map(lambda b: b'{"Contents": [{"Key": ' + b),
    )
)
def test_image_dump_with_any_listing(tmp_path_factory: Any, listing: bytes) -> None:
    """A real image dump whose listing.json is any JSON or broken bytes: ingested, with
    problems recorded, never an exception out of the handler."""
    tmp_path = tmp_path_factory.mktemp("dump")
    drop = tmp_path / "meal-images.zip"
    with zipfile.ZipFile(drop, "w") as archive:
        archive.writestr("meal-images/user-1/IMG_20250131_120000.jpg", jpeg("dump-1", taken=BASE))
        archive.writestr("meal-images/user-2/photo.jpg", jpeg("dump-2"))
        archive.writestr("listing.json", listing)
    _ingest(tmp_path, drop)


@_ENDTOEND
@given(st.lists(JSON, max_size=4), st.sampled_from(["array", "page", "download", "jsonl", "csv"]))
def test_trace_drop_with_any_traces(tmp_path_factory: Any, traces: list[Any], layout: str) -> None:
    """A Langfuse export of trace-shaped JSON with any values, ingested end to end."""
    tmp_path = tmp_path_factory.mktemp("traces")
    head = {"id": "t0", "timestamp": "2025-01-31T12:00:00Z", "userId": "u0", "name": "seed"}
    suffix = ".csv" if layout == "csv" else ".jsonl" if layout == "jsonl" else ".json"
    drop = tmp_path / f"traces{suffix}"
    drop.write_bytes(_as_layout([head, *traces], layout))
    _ingest(tmp_path, drop)
