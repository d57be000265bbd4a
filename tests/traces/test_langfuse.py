"""Langfuse trace exports: every shape, the real downloads, media references, bad records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.kinds import choose_handler
from mediasyncd.sources.base import SourceProbe
from mediasyncd.sources.detect import build_probe
from mediasyncd.traces.image_dump import ImageDumpHandler
from mediasyncd.traces.langfuse import LangfuseHandler
from mediasyncd.traces.parse import MEDIA_REF, Problem, TraceRecord, read_traces
from tests.support.traces_gen import write_traces

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "langfuse"

TRACE = {
    "id": "t-1",
    "timestamp": "2025-01-31T09:30:05.250Z",
    "name": "meal_analysis",
    "userId": "u1",
    "sessionId": "s1",
    "tags": ["meal"],
    "input": json.dumps({"text": "what is this?"}),
    "output": json.dumps("a salad"),
    "metadata": json.dumps({"model": "gpt-4o-mini"}),
    "totalCost": 0.0025,
}


def read_file(path: Path) -> list[TraceRecord | Problem]:
    return list(read_traces(lambda: open(path, "rb")))


def traces_rows(app: App) -> dict[str, dict[str, Any]]:
    cursor = app.index.execute("SELECT * FROM traces ORDER BY id")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor}


def failures(summary: IngestSummary) -> list[tuple[str | None, str]]:
    return [(f.member, f.error) for f in summary.failures]


def test_real_downloads_are_read(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """The real "Download JSON" files: JSON-string input/output/metadata decoded, model and
    cost from the generations, UTC timestamps; the one without a userId is reported."""
    drop = tmp_path / "downloads"
    drop.mkdir()
    for fixture in FIXTURES.glob("*.trace.json"):
        (drop / fixture.name).write_bytes(fixture.read_bytes())
    summary = ingest(drop)
    rows = traces_rows(app)
    autogen = rows["1b72c51fabed12ae7df83bfd4a09f545"]
    assert autogen["timestamp"] == "2025-06-06T11:31:33.965Z"
    assert autogen["ts"] == pytest.approx(1749209493.965)
    assert (autogen["user_id"], autogen["session_id"]) == ("user_123", "session_abc")
    assert autogen["name"] == "autogen-chat-trace"
    assert json.loads(autogen["input"]) == "Say 'Hello World!'"
    assert json.loads(autogen["output"]) == "Hello World!"
    assert json.loads(autogen["metadata"])["email"] == "user@langfuse.com"
    assert autogen["model"] == "gpt-4o"
    assert autogen["cost"] == pytest.approx(2.5e-05)
    assert json.loads(autogen["tags"]) == ["autogen", "dev"]
    llama = rows["12ea412956f99347b0503c1144acd0ec"]
    assert llama["model"] == "gpt-4o" and llama["cost"] and llama["cost"] > 0
    assert json.loads(llama["input"]) == "What is Langfuse?"
    assert set(rows) == {"1b72c51fabed12ae7df83bfd4a09f545", "12ea412956f99347b0503c1144acd0ec"}
    problems = [(m, e) for m, e in failures(summary) if "pydantic" in (m or "")]
    assert len(problems) == 1 and "no userId" in problems[0][1]
    assert summary.sources[0]["kind"] == "langfuse"


def test_media_reference_examples_parse() -> None:
    """Every reference string in the shared examples yields its type, id and source."""
    lines = (FIXTURES / "langfuse_media_reference_examples.txt").read_text().splitlines()
    found = [
        m.groups() for line in lines if not line.startswith("#") for m in MEDIA_REF.finditer(line)
    ]
    assert ("image/jpeg", "MwoGlsMS6lW8ijWeRyZKfD", "bytes") in found
    assert ("image/png", "cc48838a-3da8-4ca4-a007-2cf8df930e69", "bytes") in found
    assert ("application/pdf", "some-other-uuid", "bytes") in found
    assert len(found) == 6


@pytest.mark.parametrize("shape", ["page", "array", "jsonl", "csv"])
def test_every_export_shape_gives_the_same_trace(tmp_path: Path, shape: str) -> None:
    """API page, JSON array, JSON lines and CSV (cells JSON-encoded, then quoted) agree."""
    path = write_traces(tmp_path / f"traces.{shape}", [TRACE], shape)
    (record,) = read_file(path)
    assert isinstance(record, TraceRecord)
    assert (record.id, record.user_id, record.session_id) == ("t-1", "u1", "s1")
    assert record.timestamp == "2025-01-31T09:30:05.250Z"
    assert record.input == {"text": "what is this?"}
    assert record.output == "a salad"
    assert record.model == "gpt-4o-mini"
    assert record.cost == pytest.approx(0.0025)
    assert record.tags == ["meal"]


def test_csv_header_may_be_json_encoded_and_bom_is_skipped(tmp_path: Path) -> None:
    """A header row whose names are JSON strings, behind a UTF-8 BOM, still maps columns."""
    path = tmp_path / "t.csv"
    path.write_bytes(
        b'\xef\xbb\xbf"""id""","""timestamp""","""userId"""\r\n'
        b'"""a""","""2025-01-31T10:00:00Z""","""u9"""\r\n'
    )
    (record,) = read_file(path)
    assert isinstance(record, TraceRecord) and (record.id, record.user_id) == ("a", "u9")


def test_concatenated_pages_and_downloads(tmp_path: Path) -> None:
    """Two API pages in one file, and a list of downloads, are read whole."""
    pages = tmp_path / "pages.json"
    second = dict(TRACE, id="t-2")
    pages.write_text(
        json.dumps({"data": [TRACE], "meta": {"page": 1}})
        + "\n"
        + json.dumps({"meta": {"page": 2}, "data": [second]})
    )
    assert [r.id for r in read_file(pages) if isinstance(r, TraceRecord)] == ["t-1", "t-2"]
    downloads = tmp_path / "downloads.json"
    obs = {"id": "o1", "traceId": "t-1", "type": "GENERATION", "model": "gpt-4o", "totalCost": 0.5}
    trace = {k: v for k, v in TRACE.items() if k not in ("totalCost", "metadata")}
    downloads.write_text(json.dumps([{"trace": trace, "observations": [obs]}]))
    (record,) = read_file(downloads)
    assert isinstance(record, TraceRecord)
    assert (record.model, record.cost) == ("gpt-4o", 0.5)


def test_media_references_found_in_trace_and_generations(tmp_path: Path) -> None:
    """References in the trace's input and in a generation's input both count, once each."""
    ref = "@@@langfuseMedia:type=image/jpeg|id=MwoGlsMS6lW8ijWeRyZKfD|source=bytes@@@"
    other = (
        "@@@langfuseMedia:type=image/png|id=cc48838a-3da8-4ca4-a007-2cf8df930e69|source=base64@@@"
    )
    trace = dict(TRACE, input=json.dumps([{"type": "image_url", "image_url": {"url": ref}}]))
    obs = [
        {"id": "o1", "traceId": "t-1", "input": json.dumps({"messages": [ref, other]})},
        {"id": "o2", "traceId": "t-1", "output": {"image": other}},
    ]
    path = tmp_path / "download.json"
    path.write_text(json.dumps({"trace": trace, "observations": obs}, indent=1))
    (record,) = read_file(path)
    assert isinstance(record, TraceRecord)
    assert [(m.media_id, m.field) for m in record.media] == [
        ("MwoGlsMS6lW8ijWeRyZKfD", "input"),
        ("cc48838a-3da8-4ca4-a007-2cf8df930e69", "observation.input"),
    ]


def test_bad_records_are_reported_and_the_rest_ingested(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """Unparseable timestamp, no user id, a broken JSON line: each named by line and
    trace; the good records around them land."""
    lines = [
        json.dumps(dict(TRACE, id="good-1")),
        json.dumps(dict(TRACE, id="bad-time", timestamp="yesterday-ish")),
        json.dumps({k: v for k, v in dict(TRACE, id="no-user").items() if k != "userId"}),
        '{"id": "broken", "timestamp": ',
        json.dumps(dict(TRACE, id="good-2")),
    ]
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary = ingest(path)
    assert set(traces_rows(app)) == {"good-1", "good-2"}
    messages = [e for _, e in failures(summary)]
    assert any(
        "line 2 (trace bad-time): unparseable timestamp 'yesterday-ish'" in m for m in messages
    )
    assert any("line 3 (trace no-user)" in m and "no userId" in m for m in messages)
    assert any(m.startswith("line 4: not valid JSON") for m in messages)
    assert {m for m, _ in failures(summary)} == {"traces.jsonl"}
    assert summary.sources[0]["state"] == "partial"  # the good traces stored, the bad named


def test_csv_with_broken_quoting_loses_only_its_own_lines(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """An unclosed quote and a line with too many fields are reported; the lines after an
    unclosed quote are read again on their own, not swallowed."""
    path = write_traces(tmp_path / "t.csv", [dict(TRACE, id=f"c{i}") for i in range(4)], "csv")
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(2, '"""oops""","""2025-01-31T09:00:00Z\n')  # quote never closed
    lines.insert(4, '"""x""","a","b"\n')  # wrong field count
    path.write_text("".join(lines))
    summary = ingest(path)
    assert set(traces_rows(app)) == {"c0", "c1", "c2", "c3"}
    messages = [e for _, e in failures(summary)]
    assert "line 3: broken CSV quoting: a quote is never closed" in messages
    assert any(m.startswith("line 5: 3 fields where the header has") for m in messages)


def test_truncated_json_keeps_what_came_before(tmp_path: Path) -> None:
    """A JSON array cut off mid-file: the whole items before the cut are kept."""
    path = tmp_path / "cut.json"
    text = json.dumps([dict(TRACE, id=f"t{i}") for i in range(3)])
    path.write_text(text[: text.rindex('{"id"') + 20])
    items = read_file(path)
    assert [r.id for r in items if isinstance(r, TraceRecord)] == ["t0", "t1"]
    assert isinstance(items[-1], Problem) and "breaks off" in items[-1].message


def test_exports_merge_and_unchanged_copies_touch_nothing(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A CSV without cost, then a download with model and cost: the fields fill in; the
    same trace again in another file changes nothing and rematches no user."""
    bare = {k: v for k, v in TRACE.items() if k not in ("totalCost", "metadata")}
    first = write_traces(tmp_path / "a" / "t.csv", [bare], "csv")
    ingest(first)
    assert traces_rows(app)["t-1"]["cost"] is None
    obs = {"id": "o", "traceId": "t-1", "type": "GENERATION", "model": "gpt-4o", "totalCost": 0.7}
    download = tmp_path / "b" / "t.json"
    download.parent.mkdir()
    download.write_text(json.dumps({"trace": bare, "observations": [obs]}, indent=2))
    changed = ingest(download)
    row = traces_rows(app)["t-1"]
    assert (row["model"], row["cost"]) == ("gpt-4o", 0.7)
    assert changed.rematched_users == 1
    again = write_traces(tmp_path / "c" / "t.jsonl", [bare], "jsonl")
    assert ingest(again).rematched_users == 0
    assert traces_rows(app)["t-1"]["cost"] == 0.7


def probe_for(tmp_path: Path, files: dict[str, bytes]) -> SourceProbe:
    root = tmp_path / "probe"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return build_probe(root)


def test_detection_by_content(tmp_path: Path) -> None:
    """Trace files score 80 alone, 40 beside photos; ChatGPT exports and other JSON, 0."""
    trace_json = json.dumps([TRACE]).encode()
    handler = LangfuseHandler()
    assert handler.detect(probe_for(tmp_path / "a", {"x.json": trace_json})) == 80
    photos = {"x.json": trace_json, "p/1.jpg": b"\xff\xd8\xff\xe0"}
    assert handler.detect(probe_for(tmp_path / "b", photos)) == 40
    chatgpt = {"conversations.json": trace_json}
    assert handler.detect(probe_for(tmp_path / "c", chatgpt)) == 0
    other = {"settings.json": b'{"theme": "dark"}', "notes.csv": b"a,b\n1,2\n"}
    assert handler.detect(probe_for(tmp_path / "d", other)) == 0
    single = write_traces(tmp_path / "e" / "export.csv", [TRACE], "csv")
    assert isinstance(choose_handler(single), LangfuseHandler)
    assert not isinstance(choose_handler(single), ImageDumpHandler)
