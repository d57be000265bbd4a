"""The exported pages in real headless Chromium (Debian's, installed by the fixture).

Opened from disk (file://) as a person would: every image decodes, every audio source
exists and plays, hostile titles and text executed nothing and show as text, the index
filter works, and the pages read the same with scripts turned off.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from mediasyncd.export import ExportSummary
from tests.export.browser import Chromium
from tests.support.export_builders import CID_HOSTILE, CID_TRIP, HOSTILE_TITLE, PROMPT

IMAGES = """Array.from(document.images).map(i => ({
    src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth}))"""
SOURCES = """Array.from(document.querySelectorAll('audio source, video source')).map(s => s.src)"""
AUDIO_DURATIONS = """Promise.all(Array.from(document.querySelectorAll('audio')).map(a =>
    new Promise(done => {
        if (a.readyState >= 1) { done(a.duration); return; }
        a.addEventListener('loadedmetadata', () => done(a.duration));
        a.addEventListener('error', () => done(-1));
        a.load();
        setTimeout(() => done(-2), 15000);
    })))"""


def _folders(out: Path) -> dict[str, Path]:
    state = json.loads((out / ".mediasyncd-export.json").read_text())
    return {cid: out / e["folder"] for cid, e in state["conversations"].items()}


def _check_page(browser: Chromium, page: Path) -> list[dict[str, object]]:
    browser.open(page.as_uri())
    assert browser.evaluate("typeof window.__pwned") == "undefined", page
    images: list[dict[str, object]] = browser.evaluate(IMAGES)
    for image in images:
        assert image["complete"] and int(str(image["width"])) > 0, (page, image)
    for url in browser.evaluate(SOURCES):
        parsed = urlparse(url)
        assert parsed.scheme == "file", url
        assert Path(unquote(parsed.path)).is_file(), url
    return images


def test_index_and_conversations_in_headless_chromium(
    browser: Chromium, export: Callable[..., ExportSummary], tmp_path: Path
) -> None:
    """Every page of the export: images decode, audio plays, nothing hostile ran."""
    export()
    out = tmp_path / "out"
    folders = _folders(out)

    _check_page(browser, out / "index.html")
    titles = browser.evaluate(
        "Array.from(document.querySelectorAll('#conversations td.title a')).map(a => a.textContent)"
    )
    assert HOSTILE_TITLE in titles and len(titles) == 7
    # The filter (the export's only script) runs, and typing narrows the list.
    assert browser.evaluate("document.getElementById('filter').hidden") is False
    shown = browser.evaluate(
        """(() => { const f = document.getElementById('filter'); f.value = 'TRIP';
        f.dispatchEvent(new Event('input'));
        return Array.from(document.querySelectorAll('#conversations tbody tr'))
            .filter(r => !r.hidden).map(r => r.textContent); })()"""
    )
    assert len(shown) == 1 and "Trip planning" in shown[0]
    browser.screenshot(tmp_path / "index.png")

    for cid, folder in sorted(folders.items()):
        _check_page(browser, folder / "conversation.html")
        if cid == CID_TRIP:
            assert browser.evaluate(AUDIO_DURATIONS) == [0.4]
            assert PROMPT in browser.evaluate("document.body.innerText")
            shot = browser.screenshot(tmp_path / "conversation.png")
            assert shot.stat().st_size > 10_000
        if cid == CID_HOSTILE:
            assert browser.evaluate("document.querySelector('h1').textContent") == HOSTILE_TITLE
            assert browser.evaluate("document.querySelectorAll('script').length") == 0
            body = browser.evaluate("document.querySelector('.msg .text').textContent")
            assert "<script>window.__pwned=1</script>" in body
            assert browser.evaluate("document.querySelectorAll('a[href^=javascript]').length") == 0
    print(f"screenshots: {tmp_path / 'index.png'} {tmp_path / 'conversation.png'}")


def test_pages_need_no_script(
    browser: Chromium, export: Callable[..., ExportSummary], tmp_path: Path
) -> None:
    """With scripts off the thread, images and branches are all there; only the filter
    box stays hidden."""
    export()
    out = tmp_path / "out"
    browser.call("Emulation.setScriptExecutionDisabled", {"value": True})
    images = _check_page(browser, _folders(out)[CID_TRIP] / "conversation.html")
    assert len(images) == 2
    text = browser.evaluate("document.body.innerText")
    assert "Here is my photo from the beach." in text and "Other branch" in text
    browser.open((out / "index.html").as_uri())
    assert browser.evaluate("document.getElementById('filter').hidden") is True
