"""No Markdown page of an export links anywhere but http(s) or relative destinations,
checked with a real CommonMark parser (markdown-it-py) with its link validation off, so
it reports every link a permissive renderer would make: through the CLI on messages that
bypassed the line rules, and as a property over texts built from Markdown's punctuation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mediasyncd.export.markdown import checked_page, escape_block
from tests.helpers import make_zip, run_mediasyncd
from tests.support.export_builders import conversation, node

BYPASSES = [
    "> [x]: javascript:alert(1)\n\nsee [here][x]",
    "- [y]: javascript:alert(2)\n- then [y]",
    "1. item\n\n   [z]: javascript:alert(3)\n\n   [z]",
    "``[a](javascript:alert(4))`",
    "`` start\nmiddle `` [b](javascript:alert(5)) ``",
    "[c](\njavascript:alert(6))",
    "[d](JaVaScRiPt:alert(7)) [e](vbscript:msgbox) ![f](data:text/html;base64,PHNjcmlwdD4=)",
    "[g](javascript&#58;alert(8)) [h](java\\script:alert(9)) [i](javascript\\:alert(10))",
    "[j](mailto:someone@example.com) [k](file:///etc/passwd) [l](<javascript:alert(11)>)",
    "> > [m]: \n> > javascript:alert(12)\n> > [m]",
]
SAFE = "[ok](https://example.com/a) and [rel](notes/b.md) and `code [x](javascript:no)`"


def destinations(text: str) -> list[str]:
    """Every link, image and reference-definition destination CommonMark finds."""
    parser = MarkdownIt("commonmark")
    parser.validateLink = lambda _url: True  # type: ignore[method-assign,assignment]
    env: dict[str, Any] = {}
    found: list[str] = []

    def walk(tokens: list[Token]) -> None:
        for token in tokens:
            if token.children:
                walk(token.children)
            for name in ("href", "src"):
                value = token.attrGet(name)
                if value is not None:
                    found.append(str(value))

    walk(parser.parse(text, env))
    found.extend(str(d["href"]) for d in env.get("references", {}).values())
    return found


def unsafe(text: str) -> list[str]:
    """Destinations whose scheme (as a browser reads it) is not http or https."""
    bad = []
    for url in destinations(text):
        cleaned = re.sub(r"[\t\n\r]", "", url.strip("".join(chr(c) for c in range(0x21))))
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):", cleaned)
        if scheme and scheme.group(1).lower() not in ("http", "https"):
            bad.append(url)
    return bad


def _export_with_messages(path: Path, texts: list[str]) -> Path:
    conversations = []
    for i, text in enumerate(texts):
        cid = f"d0000000-0000-4000-8000-{i:012d}"
        t = 1_714_560_000.0 + i
        nodes = [
            node("root", None, ["u1"], None),
            node("u1", "root", ["a1", "b1"], "user", [text], create_time=t),
            node("a1", "u1", [], "assistant", ["quoted branch: " + text], create_time=t + 1),
            node("b1", "u1", [], "assistant", [text], create_time=t + 2),
        ]
        conversations.append(conversation(cid, f"Links {i}", nodes, "b1", create_time=t))
    return make_zip(path, {"conversations.json": json.dumps(conversations).encode()})


def test_exported_markdown_links_only_to_http_and_relative_targets(tmp_path: Path) -> None:
    """Each known bypass, in a message and in a folded branch (a callout), exported by the
    CLI: no page links to javascript:, vbscript:, data:, file: or mailto:; safe links and
    code survive."""
    state = tmp_path / "state"
    drop = _export_with_messages(tmp_path / "export.zip", [*BYPASSES, SAFE])
    assert run_mediasyncd(["--state-dir", str(state), "ingest", str(drop)]).returncode == 0
    out = tmp_path / "vault"
    done = run_mediasyncd(
        ["--state-dir", str(state), "export", str(out), "--format", "markdown", "--json"]
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["written"] == len(BYPASSES) + 1
    pages = sorted(out.glob("*/conversation.md"))
    assert len(pages) == len(BYPASSES) + 1
    for page in [*pages, out / "index.md"]:
        text = page.read_text()
        assert unsafe(text) == [], (page.name, unsafe(text))
        assert "alert(" in text or page.name == "index.md" or "example.com" in text
    safe_page = next(p for p in pages if "Links " + str(len(BYPASSES)) in p.read_text())
    kept = destinations(safe_page.read_text())
    assert "https://example.com/a" in kept and "notes/b.md" in kept
    assert "`code [x](javascript:no)`" in safe_page.read_text()


_PUNCTUATION = ["[", "]", "(", ")", "<", ">", "`", "``", ":", "\\", "&#58;", "&#x6A;"]
_LAYOUT = ["\n", "\n\n", "> ", "- ", "1. ", "   "]
_WORDS = ["javascript:", "JAVASCRIPT:", "alert(1)", "x", "https://a.b/"]
_PIECES = st.sampled_from([*_PUNCTUATION, *_LAYOUT, *_WORDS])


def _page(text: str) -> str:
    """The text as a page puts it: at the top level and inside a folded branch."""

    def render(strict: bool) -> str:
        block = escape_block(text, strict=strict)
        quoted = "\n".join(("> " + line).rstrip() for line in block.splitlines())
        return f"### You\n\n{block}\n\n> [!note]- Other branch\n{quoted}\n"

    return checked_page(render)


@given(st.lists(_PIECES, max_size=40).map("".join))
@example("> [x]: javascript:alert(1)")
@example("``[a](javascript:alert(1))`")
@example("[a](\n> javascript:x)")
def test_no_text_becomes_an_unsafe_link(text: str) -> None:
    """Whatever the message, the page either has no unsafe destination or was rendered
    with its brackets escaped; it is never refused."""
    assert unsafe(_page(text)) == []


def test_each_bypass_links_unsafely_before_neutralisation() -> None:
    """The check finds an unsafe destination in each raw bypass (so the tests above can
    fail), and none once the page is rendered."""
    for text in BYPASSES:
        assert unsafe(text), text
        assert unsafe(_page(text)) == [], text
