"""Per-user trace pages from a real image dump and a real Langfuse export, ingested."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from mediasyncd.app import App
from mediasyncd.export import export_archive
from mediasyncd.ingest.pipeline import IngestSummary
from tests.export.browser import Chromium
from tests.export.test_archive import parse
from tests.support.traces_gen import (
    BASE,
    Photo,
    Scenario,
    iso,
    jpeg,
    media_ref,
    photo,
    write_dump,
    write_traces,
)

HOSTILE_USER = '"><script>window.__pwned=1</script>'


def trace(
    trace_id: str, user: str, seconds: float, text: Any = "what did I eat?"
) -> dict[str, Any]:
    return {
        "id": trace_id,
        "timestamp": iso(BASE + timedelta(seconds=seconds)),
        "userId": user,
        "name": "meal-log",
        "input": json.dumps(text),
        "output": json.dumps({"kcal": 640, "note": "<b>not bold</b>"}),
    }


def scenario(tmp_path: Path, ingest: Callable[..., IngestSummary]) -> dict[str, Photo]:
    photos = {
        "lunch": photo("u1", "lunch.jpg", 30),
        "late": photo("u1", "late.jpg", 3 * 3600),
        "stray": photo("u1", "stray.jpg", 50_000),
    }
    gone = jpeg("never-uploaded")
    traces = [
        trace("t-lunch", "u1", 0),
        trace(
            "t-media",
            "u1",
            1000,
            [{"type": "image_url", "image_url": {"url": media_ref(photos["late"].data)}}],
        ),
        trace("t-gone", "u1", 20_000, media_ref(gone)),
        trace("t-hostile", HOSTILE_USER, 10, "<img src=x onerror=window.__pwned=1>"),
    ]
    listing = Scenario(list(photos.values())).listing()
    summary = ingest(
        write_dump(tmp_path / "dump", list(photos.values()), listing),
        write_traces(tmp_path / "traces.jsonl", traces, "jsonl"),
    )
    assert not summary.failures, summary.failures
    return photos


def user_folders(out: Path) -> dict[str, Path]:
    state = json.loads((out / ".mediasyncd-export.json").read_text())
    return {uid: out / "users" / e["folder"] for uid, e in state["users"].items()}


def test_trace_pages_from_real_drops(
    app: App, ingest: Callable[..., IngestSummary], tmp_path: Path
) -> None:
    """Each trace with its photo (by time or by media id), photos without a trace, media a
    trace names that is not in the archive, and the user on the index; incremental."""
    photos = scenario(tmp_path, ingest)
    out = tmp_path / "out"
    summary = export_archive(app.index, app.store, app.config, out)
    assert summary.users_written == 2 and summary.failures == []
    folders = user_folders(out)
    assert set(folders) == {"u1", HOSTILE_USER}
    assert all(f.name.count("/") == 0 and f.parent == out / "users" for f in folders.values())
    html = (folders["u1"] / "traces.html").read_text()
    tags = parse(html)
    assert [a["src"] for t, a in tags.tags if t == "img"] == [
        "media/lunch.jpg",
        "media/late.jpg",
        "media/stray.jpg",
    ]
    for name in ("lunch.jpg", "late.jpg", "stray.jpg"):
        assert (folders["u1"] / "media" / name).read_bytes() == photos[name[:-4]].data
    text = " ".join(tags.text)
    assert "Photos without a trace" in text and "Langfuse media" in text
    assert "<b>not bold</b>" in text and "<b>not bold</b>" not in html
    strategies = {a.get("class") for t, a in tags.tags if t == "figure"}
    assert strategies == {"file kind-image"}
    assert "langfuse_media 1.00" in text and "time " in text
    assert "photo 30 s after the trace" in text and "photo 2.7 h after the trace" in text
    index = (out / "index.html").read_text()
    assert "Trace photos by user" in index
    assert export_archive(app.index, app.store, app.config, out).users_written == 0
    ingest(write_dump(tmp_path / "more", [photo("u1", "dinner.jpg", 40_000)], None))
    assert export_archive(app.index, app.store, app.config, out).users_written == 1
    assert (folders["u1"] / "media" / "dinner.jpg").is_file()


def test_trace_pages_in_markdown(
    app: App, ingest: Callable[..., IngestSummary], tmp_path: Path
) -> None:
    """traces.md: front matter with the user id, photo embeds that resolve."""
    scenario(tmp_path, ingest)
    out = tmp_path / "md"
    export_archive(app.index, app.store, app.config, out, fmt="markdown")
    page = user_folders(out)[HOSTILE_USER] / "traces.md"
    front = yaml.safe_load(page.read_text().split("---\n")[1])
    assert front["user_id"] == HOSTILE_USER
    body = (user_folders(out)["u1"] / "traces.md").read_text()
    assert "![lunch.jpg](media/lunch.jpg)" in body
    assert "[Conversations]" not in body and "(../../index.md)" in body


def test_trace_pages_in_headless_chromium(
    app: App, ingest: Callable[..., IngestSummary], browser: Chromium, tmp_path: Path
) -> None:
    """The photos decode in a real browser; the hostile user id ran nothing."""
    scenario(tmp_path, ingest)
    out = tmp_path / "out"
    export_archive(app.index, app.store, app.config, out)
    for uid, folder in user_folders(out).items():
        browser.open((folder / "traces.html").as_uri())
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        widths = browser.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        assert all(w > 0 for w in widths)
        if uid == "u1":
            assert len(widths) == 3
            browser.screenshot(tmp_path / "traces.png")
        else:
            heading = browser.evaluate("document.querySelector('h1').textContent")
            assert heading == f"Traces and photos of {HOSTILE_USER}"
