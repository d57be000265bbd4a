"""Markdown escaping: message Markdown survives, nothing in it can act."""

from __future__ import annotations

import yaml

from mediasyncd.export.markdown import escape_block, escape_inline, front_matter


def test_html_is_text_outside_code_and_kept_inside_fences() -> None:
    """Tags and comments become entities in prose; a fenced block keeps its tags."""
    text = "Hi <script>alert(1)</script> <!-- x -->\n```html\n<b>kept</b>\n```\nafter <i>"
    out = escape_block(text)
    assert "<script>" not in out.split("```")[0]
    assert "&lt;script>" in out and "&lt;!-- x -->" in out
    assert "<b>kept</b>" in out
    assert out.endswith("after &lt;i>")


def test_inline_code_spans_are_kept() -> None:
    """Backtick spans show their content as written (entities would print literally)."""
    assert escape_block("use `<div>` here <div>") == "use `<div>` here &lt;div>"


def test_unclosed_fence_is_closed_so_it_cannot_swallow_the_page() -> None:
    """A message ending inside a code block gets a closing fence."""
    out = escape_block("````py\nprint(1)\n```\nstill code")
    assert out.splitlines()[-1] == "````"


def test_only_web_links_stay_links() -> None:
    """`javascript:` and `file:` link targets lose their link syntax; http(s) stay."""
    out = escape_block("[a](javascript:alert(1)) [b]( file:///etc/passwd) [c](https://ok.example)")
    assert "[a]\\(javascript:" in out
    assert "[b]\\( file:" in out
    assert "[c](https://ok.example)" in out


def test_reference_definitions_wikilinks_and_comments_are_escaped() -> None:
    """`[x]: javascript:…`, `![[note]]` embeds and `%%comments%%` show as text."""
    out = escape_block("[x]: javascript:alert(1)\n![[Secret]] %%hidden%%")
    assert out.splitlines()[0].startswith("\\[x]")
    assert "!\\[\\[Secret]]" in out
    assert "\\%\\%hidden\\%\\%" in out


def test_inline_text_has_no_syntax_left() -> None:
    """Titles and names: one line, entities for HTML, backslashes for Markdown."""
    out = escape_inline('<img src=x onerror="a">\n# [t](javascript:x) | *b* _c_ `d` $e$')
    assert "\n" not in out and "<" not in out
    for raw in ("[", "]", "|", "*", "_", "`", "$", "#"):
        assert raw not in out.replace("\\" + raw, "")


def test_front_matter_is_valid_yaml_whatever_the_title() -> None:
    """Quotes, newlines, colons and YAML syntax in a title stay one string value."""
    title = 'a: "b"\n- c\n---\n{d: [e]} # f \x07'
    text = front_matter({"title": title, "messages": 3, "tags": ["x", "y"], "none": None})
    assert text.startswith("---\n") and text.endswith("---\n")
    data = yaml.safe_load(text.strip().strip("-"))
    assert data == {"title": title, "messages": 3, "tags": ["x", "y"]}
