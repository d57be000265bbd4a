"""Reports through the command line: pairs as CSV with the seed's columns, leftovers,
status numbers, time filters and the display time zone."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.traces.report import PAIR_COLUMNS
from tests.conftest import CliResult
from tests.support.traces_gen import (
    BASE,
    Photo,
    Scenario,
    iso,
    jpeg,
    media_ref,
    write_dump,
    write_traces,
)

Run = Callable[..., CliResult]


def trace(trace_id: str, user: str, seconds: float, **fields: Any) -> dict[str, Any]:
    record = {
        "id": trace_id,
        "timestamp": iso(BASE + timedelta(seconds=seconds)),
        "userId": user,
        "name": "meal_analysis",
        "input": json.dumps({"text": "what is this?"}),
        "output": json.dumps("a bowl of pho"),
        "metadata": json.dumps({"model": "gpt-4o-mini"}),
        "totalCost": 0.0042,
    }
    record.update(fields)
    return record


@pytest.fixture
def seeded(tmp_path: Path, run_cli: Run) -> dict[str, Any]:
    """Two users: u1 with a time pair (gap 30 s) a day apart from a media pair (gap 3 h),
    an unused trace and an unmatched photo; u2 with a time pair (gap 90 s)."""
    day = 86400
    late = Photo(
        "u1", "meal-images/u1/late.jpg", jpeg("late"), BASE + timedelta(seconds=day + 10800)
    )
    photos = [
        Photo("u1", "meal-images/u1/a.jpg", jpeg("a"), BASE + timedelta(seconds=30)),
        late,
        Photo("u1", "meal-images/u1/lonely.jpg", jpeg("l"), BASE + timedelta(seconds=5 * 3600)),
        Photo("u2", "meal-images/u2/b.jpg", jpeg("b"), BASE + timedelta(seconds=90)),
    ]
    traces = [
        trace("t-a", "u1", 0),
        trace("t-late", "u1", day, input=json.dumps([{"url": media_ref(late.data)}])),
        trace("t-unused", "u1", 2 * day, name="chat"),
        trace("t-b", "u2", 0),
    ]
    config = tmp_path / "config.toml"
    config.write_text('[traces]\ndisplay_timezone = "+07:00"\n')
    dump = write_dump(tmp_path / "dump", photos, Scenario(photos).listing())
    export = write_traces(tmp_path / "traces.csv", traces, "csv")
    result = run_cli("--config", config, "ingest", dump, export)
    assert result.code == 0, result.stderr
    return {"config": config, "dump": dump}


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_pairs_csv_has_the_seed_columns(seeded: dict[str, Any], run_cli: Run) -> None:
    """CSV columns: user_id, trace_id, trace_name, input, output, model, cost, image path,
    digest, image time, trace time, gap seconds (then strategy, confidence, clock); times
    in the display zone."""
    result = run_cli(
        "--config", seeded["config"], "matches", "--subject", "trace", "--format", "csv"
    )
    assert result.code == 0, result.stderr
    header = result.stdout.splitlines()[0].split(",")
    assert header == list(PAIR_COLUMNS)
    assert header[:12] == [
        "user_id", "trace_id", "trace_name", "input", "output", "model", "cost",
        "image_path", "digest", "image_time", "trace_time", "gap_seconds",
    ]  # fmt: skip
    rows = {r["trace_id"]: r for r in csv_rows(result.stdout)}
    assert set(rows) == {"t-a", "t-late", "t-b"}
    first = rows["t-a"]
    assert first["user_id"] == "u1"
    assert json.loads(first["input"]) == {"text": "what is this?"}
    assert first["output"] == "a bowl of pho"
    assert (first["model"], first["cost"]) == ("gpt-4o-mini", "0.0042")
    assert first["image_path"] == f"{seeded['dump']}!/meal-images/u1/a.jpg"
    assert first["trace_time"] == "2025-01-31T07:00:00+07:00"
    assert first["image_time"] == "2025-01-31T07:00:30+07:00"
    assert (first["gap_seconds"], first["strategy"], first["time_source"]) == (
        "30.0",
        "time",
        "listing",
    )
    assert rows["t-late"]["strategy"] == "langfuse_media"
    assert rows["t-late"]["gap_seconds"] == "10800.0"


def test_pairs_jsonl_keeps_contract_fields(seeded: dict[str, Any], run_cli: Run) -> None:
    """JSON lines carry the contract's match fields plus the pair's columns, input decoded."""
    result = run_cli("matches", "--subject", "trace", "--format", "jsonl", "--user", "u2")
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    for key in ("subject", "conversation_id", "message_id", "trace_id", "user_id", "digest"):
        assert key in record
    assert (record["subject"], record["association"], record["trace_id"]) == (
        "trace",
        "attachment",
        "t-b",
    )
    assert record["input"] == {"text": "what is this?"}
    assert record["trace_time"] == "2025-01-31T00:00:00+00:00"  # no config: UTC


def test_time_filters(seeded: dict[str, Any], run_cli: Run) -> None:
    """--from/--to select by trace time (read in the display zone when naive); --since
    counts back from now; a filter without --subject trace is a usage error."""
    base = ["--config", seeded["config"], "matches", "--subject", "trace", "--format", "csv"]
    day_one = run_cli(*base, "--from", "2025-01-31", "--to", "2025-02-01")
    assert {r["trace_id"] for r in csv_rows(day_one.stdout)} == {"t-a", "t-b"}
    day_two = run_cli(*base, "--from", "2025-02-01T07:00")
    assert {r["trace_id"] for r in csv_rows(day_two.stdout)} == {"t-late"}
    assert csv_rows(run_cli(*base, "--since", "7d").stdout) == []
    unresolved = run_cli(
        "unresolved", "--subject", "trace", "--format", "jsonl", "--to", "2025-02-02"
    )
    assert {json.loads(x)["key"] for x in unresolved.stdout.splitlines()} == {
        "meal-images/u1/lonely.jpg"
    }
    bad = run_cli("matches", "--since", "7d")
    assert bad.code == 2 and "--subject trace" in bad.stderr
    assert run_cli(*base, "--since", "soon").code == 2


def test_since_takes_a_date_as_export_does(seeded: dict[str, Any], run_cli: Run) -> None:
    """One time parser: `matches --subject trace --since 2025-02-01T07:00` was refused
    (only spans) though `export --since` takes dates; a naive one is read, as --from is,
    in the display time zone."""
    base = ["--config", seeded["config"], "matches", "--subject", "trace", "--format", "csv"]
    since = run_cli(*base, "--since", "2025-02-01T07:00")
    assert since.code == 0, since.stderr
    assert {r["trace_id"] for r in csv_rows(since.stdout)} == {"t-late"}
    assert csv_rows(run_cli(*base, "--since", "2025-01-31").stdout) == csv_rows(
        run_cli(*base, "--from", "2025-01-31").stdout
    )


def test_unresolved_lists_unused_traces_and_unmatched_images(
    seeded: dict[str, Any], run_cli: Run
) -> None:
    """Leftovers: the unused trace and the unmatched photo, with user, time and path."""
    result = run_cli("unresolved", "--subject", "trace", "--format", "jsonl")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["kind"], r["user_id"], r["key"]) for r in records] == [
        ("unused_trace", "u1", "t-unused"),
        ("unmatched_image", "u1", "meal-images/u1/lonely.jpg"),
    ]
    assert records[1]["path"].endswith("!/meal-images/u1/lonely.jpg")
    # The table words the kinds (jsonl and csv keep the codes) and names the photo.
    table = run_cli("unresolved", "--subject", "trace").stdout
    assert "user u1: 1 unused trace\n" in table and "user u1: 1 unmatched photo\n" in table
    assert "t-unused" in table and "lonely.jpg" in table


def test_status_numbers(seeded: dict[str, Any], run_cli: Run) -> None:
    """status --json keeps its contract keys and adds trace_pairs: users, images, traces,
    pairs, match rate, gap median and p95 (over time pairs)."""
    data = json.loads(run_cli("status", "--json").stdout)
    for key in ("blobs", "bytes", "conversations", "messages", "traces", "references", "matches"):
        assert key in data
    pairs = data["trace_pairs"]
    assert {k: pairs[k] for k in ("users", "images", "traces", "pairs")} == {
        "users": 2,
        "images": 4,
        "traces": 4,
        "pairs": 3,
    }
    assert pairs["match_rate"] == 0.75
    assert (pairs["unused_traces"], pairs["unmatched_images"]) == (1, 1)
    assert (pairs["gap_median_seconds"], pairs["gap_p95_seconds"]) == (30.0, 90.0)
    assert pairs["pairs_by_strategy"] == {"langfuse_media": 1, "time": 2}
    text = run_cli("status").stdout
    assert "trace pairs    3 for 2 users: 4 images (75.0% matched)" in text
