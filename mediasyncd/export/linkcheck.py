"""Proving a Markdown page links nowhere but http(s) and relative destinations.

The Markdown export keeps the messages' own Markdown and neutralises what would act
(mediasyncd.export.markdown). Text rules alone can be outwitted by Markdown's grammar:
a reference definition inside a blockquote or list item, or a code span that a run of
backticks seems to open but CommonMark never closes, each let `javascript:` through. So
every page is also read by a real CommonMark parser (markdown-it-py, with its own link
validation off, so it reports what a permissive renderer such as a notes app would
link) and any link, image or reference definition whose destination has a scheme other
than http or https fails the check; the page is then rendered again with every bracket
escaped.

The parser only runs when the page has a candidate at all: a scheme right after `](`,
`]:` or `<` (with spaces, line breaks or `>` quote markers between, HTML entities
decoded first, as CommonMark decodes them in destinations). Every destination starts
at such a place, and most pages have none that is not http(s).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from markdown_it.token import Token

SAFE_SCHEMES: Final = frozenset({"http", "https"})
_CANDIDATE: Final = re.compile(
    r"(?:\][(:]|<)[\s>\x00-\x1f]*<?[\s>\x00-\x1f]*([A-Za-z][A-Za-z0-9+.\-\\]*?)\\?:", re.ASCII
)
_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):", re.ASCII)
# What a browser drops before it reads a URL's scheme (WHATWG URL: leading and trailing
# C0 controls and spaces, and every tab and line break).
_LEADING: Final = "".join(chr(c) for c in range(0x21))
_INSIDE: Final = re.compile(r"[\t\n\r]")


def is_safe_destination(url: str) -> bool:
    """http(s) or relative (no scheme at all)."""
    cleaned = _INSIDE.sub("", url.strip(_LEADING))
    match = _SCHEME.match(cleaned)
    return match is None or match.group(1).lower() in SAFE_SCHEMES


def might_link_unsafely(text: str) -> bool:
    """Cheap test: could any destination in `text` carry a non-http(s) scheme?"""
    decoded = html.unescape(text) if "&" in text else text
    for match in _CANDIDATE.finditer(decoded):
        if match.group(1).replace("\\", "").lower() not in SAFE_SCHEMES:
            return True
    return False


def unsafe_destinations(text: str) -> list[str]:
    """Every link, image and reference destination of `text` (as CommonMark reads it)
    whose scheme is not http(s)."""
    if not might_link_unsafely(text):
        return []
    from markdown_it import MarkdownIt  # only for pages that need it

    parser = MarkdownIt("commonmark")
    # Off: markdown-it would drop javascript: links itself, hiding them from this check.
    parser.validateLink = _accept_every_link  # type: ignore[method-assign,assignment]
    env: dict[str, Any] = {}
    tokens = parser.parse(text, env)
    found = [url for url in _destinations(tokens) if not is_safe_destination(url)]
    for definition in env.get("references", {}).values():
        href = str(definition.get("href", ""))
        if not is_safe_destination(href):
            found.append(href)
    return found


def _accept_every_link(_url: str) -> bool:
    return True


def _destinations(tokens: list[Token]) -> Iterator[str]:
    for token in tokens:
        if token.children:
            yield from _destinations(token.children)
        for name in ("href", "src"):
            value = token.attrGet(name)
            if value is not None:
                yield str(value)
