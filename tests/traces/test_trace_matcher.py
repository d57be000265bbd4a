"""The trace matcher on a real index: media ids first, then time, per user."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from mediasyncd.app import App
from mediasyncd.config import Config, TracesConfig
from mediasyncd.ingest.pipeline import Ingester, IngestSummary
from mediasyncd.traces.matcher import TraceMatcher
from tests.support.traces_gen import (
    BASE,
    Photo,
    Scenario,
    iso,
    jpeg,
    media_id,
    media_ref,
    photo,
    write_dump,
    write_traces,
)


def trace(trace_id: str, user: str, seconds: float, text: Any = "hi") -> dict[str, Any]:
    return {
        "id": trace_id,
        "timestamp": iso(BASE + timedelta(seconds=seconds)),
        "userId": user,
        "name": "meal",
        "input": json.dumps(text),
    }


def links(app: App) -> dict[tuple[str, str], tuple[str, float, float | None]]:
    """(trace id, image key) -> (strategy, confidence, gap seconds)."""
    found = {}
    for trace_id, strategy, confidence, detail in app.index.execute(
        "SELECT trace_id, strategy, confidence, detail FROM matches WHERE subject = 'trace'"
    ):
        data = json.loads(detail)
        found[(trace_id, data["image_key"])] = (strategy, confidence, data["gap_seconds"])
    return found


def drop(
    tmp_path: Path, name: str, photos: list[Photo], traces: list[dict[str, Any]]
) -> list[Path]:
    paths = []
    if photos:
        paths.append(write_dump(tmp_path / name / "dump", photos, Scenario(photos).listing()))
    if traces:
        paths.append(write_traces(tmp_path / name / "traces.jsonl", traces, "jsonl"))
    return paths


def test_media_id_pins_a_late_photo_and_time_pairs_the_rest(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A photo uploaded 3 h after its trace is pinned by its media id (confidence 1); the
    trace in between pairs by time with the photo seconds after it."""
    late = photo("u1", "late.jpg", 3 * 3600)
    prompt = photo("u1", "prompt.jpg", 1830)
    traces = [
        trace(
            "t-media", "u1", 0, [{"type": "image_url", "image_url": {"url": media_ref(late.data)}}]
        ),
        trace("t-time", "u1", 1800),
    ]
    ingest(*drop(tmp_path, "a", [late, prompt], traces))
    assert links(app) == {
        ("t-media", late.key): ("langfuse_media", 1.0, 10800.0),
        ("t-time", prompt.key): ("time", 0.9262, 30.0),  # 0.95 * (1 - 0.5 * 30 / 600)
    }


def test_media_match_never_crosses_users(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """The same bytes under another user's folder do not satisfy this user's reference."""
    shared = photo("u2", "x.jpg", 10)
    traces = [trace("t1", "u1", 0, media_ref(shared.data))]
    ingest(*drop(tmp_path, "a", [shared], traces))
    assert links(app) == {}
    refs = app.index.execute(
        "SELECT trace_id FROM refs WHERE key_kind = 'langfuse_media' AND "
        "NOT EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = refs.id)"
    ).fetchall()
    assert refs == [("t1",)]


def test_the_same_photo_in_two_drops_is_one_photo(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A re-synced dump (folder, then zip of the same objects) pairs each photo once."""
    photos = [photo("u1", "a.jpg", 20), photo("u1", "b.jpg", 4000)]
    traces = [trace("t1", "u1", 0), trace("t2", "u1", 3990)]
    listing = Scenario(photos).listing()
    ingest(
        write_dump(tmp_path / "one", photos, listing),
        write_traces(tmp_path / "t.json", traces, "array"),
    )
    before = links(app)
    ingest(write_dump(tmp_path / "two.zip", photos, listing, as_zip=True))
    assert links(app) == before
    assert len(before) == 2
    assert app.index.scalar("SELECT COUNT(*) FROM dump_images") == 4


def test_direction_and_window_are_settings(tmp_path: Path, make_app: Callable[..., App]) -> None:
    """'before' (default) takes the trace before the photo; 'after' the one after it
    (the seed's public code); the window bounds both."""
    photos = [photo("u1", "a.jpg", 100)]
    traces = [trace("before", "u1", 40), trace("after", "u1", 130)]
    results = {}
    for direction in ("before", "after", "nearest"):
        config = dataclasses.replace(
            Config(),
            traces=TracesConfig(direction=direction, window_seconds=120),  # type: ignore[arg-type]
        )
        app = make_app(config, tmp_path / f"state-{direction}")
        Ingester(app.index, app.store, config, app.state_dir).ingest_paths(
            drop(tmp_path, direction, photos, traces)
        )
        results[direction] = set(links(app))
    assert results == {
        "before": {("before", photos[0].key)},
        "after": {("after", photos[0].key)},
        "nearest": {("after", photos[0].key)},
    }
    narrow = dataclasses.replace(Config(), traces=TracesConfig(window_seconds=30))
    app = make_app(narrow, tmp_path / "state-narrow")
    Ingester(app.index, app.store, narrow, app.state_dir).ingest_paths(
        drop(tmp_path, "n", photos, traces)
    )
    assert links(app) == {}


def test_affected_users_come_from_keys(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """('user_time', u) names u; ('langfuse_media', id) names the users whose traces or
    photos carry that id."""
    p = photo("u3", "a.jpg", 100)
    ingest(*drop(tmp_path, "a", [p], [trace("t", "u4", 0, media_ref(p.data))]))
    matcher = TraceMatcher(app.config)
    assert matcher.affected(app.index, [("user_time", "u9")]) == {"u9"}
    assert matcher.affected(app.index, [("langfuse_media", media_id(p.data))]) == {"u3", "u4"}
    assert matcher.affected(app.index, [("file_id", "file-x")]) == set()


def test_removed_photo_and_moved_trace_rematch_only_their_users(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A photo deleted from a re-synced folder loses its pair; a trace re-exported under
    another user moves; each ingest rematches just those users, and a full rematch
    changes nothing afterwards."""
    photos = [photo("u1", "a.jpg", 30), photo("u1", "b.jpg", 5000), photo("u2", "c.jpg", 30)]
    traces = [trace("t1", "u1", 0), trace("t2", "u1", 4990), trace("t3", "u2", 0)]
    dump, trace_file = drop(tmp_path, "a", photos, traces)
    ingest(dump, trace_file)
    assert len(links(app)) == 3
    (dump / photos[1].key).unlink()
    summary = ingest(dump)
    assert summary.rematched_users == 1
    assert set(links(app)) == {("t1", photos[0].key), ("t3", photos[2].key)}
    moved = write_traces(tmp_path / "moved.jsonl", [trace("t3", "u1", -5)], "jsonl")
    summary = ingest(moved)
    assert summary.rematched_users == 2
    assert set(links(app)) == {("t1", photos[0].key)}
    delta = TraceMatcher(app.config).rematch(app.index, None)
    assert (delta.added, delta.removed) == (0, 0)


def test_photo_without_time_pairs_only_by_media_id(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A photo with no clock at all still links through a media reference."""
    data = jpeg("no-clock")
    path = tmp_path / "dump.zip"
    with zipfile.ZipFile(path, "w") as archive:  # the 1980 zip date is no clock
        archive.writestr(zipfile.ZipInfo("meal-images/u1/x.jpg", (1980, 1, 1, 0, 0, 0)), data)
    summary = ingest(
        path,
        write_traces(
            tmp_path / "t.jsonl",
            [trace("t1", "u1", 0, media_ref(data)), trace("t2", "u1", 5)],
            "jsonl",
        ),
    )
    assert any("no usable time" in f.error for f in summary.failures)
    assert links(app) == {("t1", "meal-images/u1/x.jpg"): ("langfuse_media", 1.0, None)}
