"""Markdown pages for Obsidian-style vaults: YAML front matter, relative links, callouts.

Message text keeps its Markdown (ChatGPT writes Markdown: lists, code fences) but nothing
in it may become markup that acts: `<` and `&` become entities outside code (so HTML,
HTML comments and `<javascript:…>` autolinks show as text), a link whose target is not
http(s) or relative loses its link syntax, wiki links and embeds (`[[…]]`, `![[…]]`,
which could pull other notes of the vault in) and Obsidian comments (`%%`) are escaped,
and an unclosed code fence is closed at the end of the message so it cannot swallow the
rest of the page. Titles, names and prompts are escaped as plain text.

Those rules read Markdown line by line, which its grammar can outwit (a reference
definition inside a quote or list item, an unbalanced code span), so each finished page
is checked by a CommonMark parser (mediasyncd.export.linkcheck); a page that would still
link elsewhere is rendered again with every bracket of message text escaped, and one
that fails even then is not written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from mediasyncd import __version__
from mediasyncd.export import linkcheck
from mediasyncd.export.html import (
    association_label,
    display_title,
    human_size,
    kind_label,
    role_label,
    when,
)
from mediasyncd.export.model import (
    INDEX_NAMES,
    MANIFEST_NAME,
    MEDIA_INDEX_NAME,
    ConversationSummary,
    MediaFile,
    MissingRef,
)
from mediasyncd.export.thread import Item, Message
from mediasyncd.timeutil import epoch_to_iso

_FENCE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN: Final = re.compile(r"(`+)(.+?)\1")
_LINK_TARGET: Final = re.compile(r"\]\(\s*<?\s*([A-Za-z][A-Za-z0-9+.-]*):", re.ASCII)
_REF_DEFINITION: Final = re.compile(r"^( {0,3})\[")
_SAFE_SCHEMES: Final = linkcheck.SAFE_SCHEMES
# Characters that start Markdown (or Obsidian: `$` math, `%%` comments, `==` highlight)
# syntax anywhere in a line. `-`, `+` and `.` matter only at a line start, and a one-line
# text here never starts a line.
_INLINE_SPECIAL: Final = re.compile(r"([\\`*_\[\]|~$%#=])")


def escape_inline(text: str | None) -> str:
    """Plain text on one line (titles, names, table cells): no syntax survives."""
    if not text:
        return ""
    one_line = " ".join(text.split())
    one_line = one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _INLINE_SPECIAL.sub(r"\\\1", one_line)


def _neutralise(segment: str) -> str:
    segment = segment.replace("&", "&amp;").replace("<", "&lt;")
    segment = segment.replace("[[", r"\[\[").replace("%%", r"\%\%")

    def link(match: re.Match[str]) -> str:
        if match.group(1).lower() in _SAFE_SCHEMES:
            return match.group(0)
        return "]\\(" + match.group(0)[2:]

    return _LINK_TARGET.sub(link, segment)


def _escape_line(line: str) -> str:
    """One line outside code fences; code spans are kept as written."""
    line = _REF_DEFINITION.sub(r"\1\\[", line)
    out: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(line):
        out.append(_neutralise(line[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_neutralise(line[last:]))
    return "".join(out)


class UnsafeLinkError(ValueError):
    """A page would link to a non-http(s) destination even with every bracket escaped."""


def escape_strict(text: str) -> str:
    """Message text with no Markdown structure that could link or hide: backslashes,
    brackets, `<`, `&`, backticks and tildes escaped everywhere, so no code span or fence
    remains inside which an escape would not count (only messages of a page that failed
    the link check get this; their code shows as plain text)."""
    text = text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    for char in "[]`~":
        text = text.replace(char, "\\" + char)
    return "\n".join(text.replace("%%", r"\%\%").splitlines())


def escape_block(text: str, *, strict: bool = False) -> str:
    """Message text: its Markdown kept, anything that would act neutralised."""
    if strict:
        return escape_strict(text)
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opener = _FENCE.match(line)
        if fence is None:
            if opener:
                fence = opener.group(1)
                lines.append(line)
            else:
                lines.append(_escape_line(line))
            continue
        lines.append(line)
        stripped = line.strip()
        # A closing fence: only fence characters, the opener's kind, at least as long.
        if (
            opener
            and stripped == stripped[0] * len(stripped)
            and len(stripped) >= len(fence)
            and stripped[0] == fence[0]
        ):
            fence = None
    if fence is not None:
        lines.append(fence)
    return "\n".join(lines)


def _yaml(value: Any) -> str:
    # JSON scalars are valid YAML: quoting with json.dumps escapes quotes, newlines and
    # control characters in titles.
    return json.dumps(value, ensure_ascii=False)


def front_matter(fields: dict[str, Any]) -> str:
    lines = ["---"]
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list):
            lines.append(f"{key}: [{', '.join(_yaml(v) for v in value)}]")
        else:
            lines.append(f"{key}: {_yaml(value)}")
    lines.append("---")
    return "\n".join(lines) + "\n"


def _url(href: str) -> str:
    # Parentheses and spaces are percent-encoded already; wrap in <> for Obsidian anyway.
    return href.replace("(", "%28").replace(")", "%29")


def media_lines(media: MediaFile) -> list[str]:
    label = escape_inline(media.prompt or media.name)
    if not media.available:
        body = f"`{media.digest}` {escape_inline(media.name)} (not in store)"
    elif media.display != "link":
        body = f"![{label}]({_url(media.href)})"
    else:
        body = f"[{escape_inline(media.name)}]({_url(media.href)})"
    badges = " ".join(f"*{association_label(a)}*" for a in media.associations)
    caption = f"{badges} · {escape_inline(media.name)} · {human_size(media.size)}"
    if media.links:
        caption += f" · {media.links[0].strategy} {media.links[0].confidence:.2f}"
    lines = [body, caption]
    if media.prompt:
        lines.append(f"Prompt: “{escape_inline(media.prompt)}”")
    if media.note:
        lines.append(escape_inline(media.note))
    return lines


def missing_line(ref: MissingRef) -> str:
    name = f" “{escape_inline(ref.name)}”" if ref.name else ""
    text = (
        f"- ⚠ **Missing** {association_label(ref.association).lower()} "
        f"{kind_label(ref.kind).lower()}{name} `{ref.key.replace('`', '')}` "
        "is not in the archive yet"
    )
    if ref.prompt:
        text += f" — prompt: “{escape_inline(ref.prompt)}”"
    return text


def _message_block(message: Message, strict: bool = False) -> list[str]:
    who = role_label(message.role)
    if message.author_name:
        who += f" ({escape_inline(message.author_name)})"
    if message.create_time is not None:
        who += f" · {when(message.create_time)}"
    lines = [f"### {who}", ""]
    if message.text.strip():
        lines.extend([escape_block(message.text, strict=strict), ""])
    for media in message.files:
        lines.extend([*media_lines(media), ""])
    if message.repeated:
        names = ", ".join(f"[{escape_inline(m.name)}]({_url(m.href)})" for m in message.repeated)
        lines.extend([f"Shown above: {names}", ""])
    for ref in message.missing:
        lines.append(missing_line(ref))
    if message.missing:
        lines.append("")
    return lines


def _quoted(lines: list[str], depth: int) -> list[str]:
    if depth <= 0:
        return lines
    prefix = "> " * depth
    return [(prefix + line).rstrip() for line in lines]


def render_conversation(
    summary: ConversationSummary,
    items: Sequence[Item],
    loose_files: Sequence[MediaFile],
    loose_missing: Sequence[MissingRef],
    *,
    files_count: int,
    missing_count: int,
) -> str:
    """The conversation's page, proven to link only to http(s) and relative targets."""

    def render(strict: bool) -> str:
        return _render_conversation(
            summary,
            items,
            loose_files,
            loose_missing,
            files_count=files_count,
            missing_count=missing_count,
            strict=strict,
        )

    return checked_page(render)


def checked_page(render: Callable[[bool], str]) -> str:
    """render(False), or render(True) (brackets escaped) when the first would link to a
    non-http(s) destination; UnsafeLinkError when even that would."""
    page = render(False)
    if not linkcheck.unsafe_destinations(page):
        return page
    page = render(True)
    unsafe = linkcheck.unsafe_destinations(page)
    if unsafe:
        raise UnsafeLinkError(f"the page would link to {unsafe[0][:80]!r}; not written")
    return page


def _render_conversation(
    summary: ConversationSummary,
    items: Sequence[Item],
    loose_files: Sequence[MediaFile],
    loose_missing: Sequence[MissingRef],
    *,
    files_count: int,
    missing_count: int,
    strict: bool,
) -> str:
    out = [
        front_matter(
            {
                "title": display_title(summary.title),
                "conversation_id": summary.id,
                "created": epoch_to_iso(summary.create_time),
                "updated": epoch_to_iso(summary.update_time),
                "model": summary.model,
                "messages": summary.message_count,
                "media": files_count,
                "missing": missing_count,
                "tags": ["chatgpt", "mediasyncd"],
                "exported_by": f"mediasyncd {__version__}",
            }
        ),
        f"# {escape_inline(display_title(summary.title))}",
        "",
        f"[← All conversations](../{INDEX_NAMES['markdown']}) · [media manifest]({MANIFEST_NAME})",
        "",
    ]
    for item in items:
        if item.kind == "open":
            # A folded Obsidian callout; nested branches are callouts inside it.
            plural = "" if item.count == 1 else "s"
            label = f"[!note]- Other branch · {item.count} message{plural}"
            out.extend(_quoted([label], item.depth))
        elif item.kind == "close":
            # An empty line at the outer level: a blank line would end the outer callout.
            out.extend(_quoted([""], item.depth - 1))
        elif item.message is not None and item.message.visible:
            out.extend(_quoted(_message_block(item.message, strict), item.depth))
    if loose_files or loose_missing:
        out.extend(["", "## Files of the whole conversation", ""])
        for media in loose_files:
            out.extend([*media_lines(media), ""])
        for ref in loose_missing:
            out.append(missing_line(ref))
    return "\n".join(out).rstrip() + "\n"


def render_index(rows: Sequence[dict[str, Any]], users: Sequence[dict[str, Any]]) -> str:
    """The index page; titles and ids are escaped as plain text, and checked like any page."""
    return checked_page(lambda _strict: _render_index(rows, users))


def _render_index(rows: Sequence[dict[str, Any]], users: Sequence[dict[str, Any]]) -> str:
    media_total = sum(int(r["media"]) for r in rows)
    out = [
        front_matter(
            {
                "title": "Conversations",
                "conversations": len(rows),
                "media": media_total,
                "exported_by": f"mediasyncd {__version__}",
            }
        ),
        "# Conversations",
        "",
        f"{len(rows)} conversations, {media_total} files. "
        f"Media by digest: [{MEDIA_INDEX_NAME}]({MEDIA_INDEX_NAME}).",
        "",
    ]
    if users:
        out.extend(["## Trace photos by user", "", "| User | Traces | Photos | Paired |"])
        out.append("|---|---:|---:|---:|")
        for user in users:
            out.append(
                f"| [{escape_inline(user['user_id'])}]({_url(user['href'])}) "
                f"| {user['traces']} | {user['photos']} | {user['paired']} |"
            )
        out.extend(["", "## Conversations", ""])
    out.extend(["| Date | Title | Messages | Media | Missing |", "|---|---|---:|---:|---:|"])
    for row in rows:
        out.append(
            f"| {row['date']} | [{escape_inline(row['title'])}]({_url(row['href'])}) "
            f"| {row['messages']} | {row['media']} | {row['missing'] or ''} |"
        )
    return "\n".join(out) + "\n"


def render_traces(context: dict[str, Any]) -> str:
    """A user's trace page (inputs and outputs inside fences), checked like any page."""
    return checked_page(lambda _strict: _render_traces(context))


def _render_traces(context: dict[str, Any]) -> str:
    user_id = str(context["user_id"])
    out = [
        front_matter(
            {
                "title": f"Traces of {user_id}",
                "user_id": user_id,
                "traces": len(context["traces"]),
                "paired": context["paired"],
                "exported_by": f"mediasyncd {__version__}",
            }
        ),
        f"# Traces and photos of {escape_inline(user_id)}",
        "",
        f"[← All conversations](../../{INDEX_NAMES['markdown']})",
        "",
        f"Times in {escape_inline(str(context['timezone']))}.",
        "",
    ]
    for trace in context["traces"]:
        title = escape_inline(trace["when"])
        if trace["name"]:
            title += f" · {escape_inline(trace['name'])}"
        out.extend([f"## {title}", "", f"Trace `{str(trace['id']).replace('`', '')}`", ""])
        for media in trace["files"]:
            out.extend([*media_lines(media), ""])
        if not trace["files"]:
            out.extend(["No photo paired with this trace.", ""])
        for ref in trace["missing"]:
            out.append(missing_line(ref))
        if trace["missing"]:
            out.append("")
        for label in ("input", "output"):
            if trace[label]:
                fence = "~~~~"
                body = str(trace[label]).replace("~~~~", "~ ~ ~ ~")
                out.extend([f"**{label.title()}**", "", fence, body, fence, ""])
    if context["unpaired_photos"]:
        out.extend(["## Photos without a trace", ""])
        for media in context["unpaired_photos"]:
            out.extend([*media_lines(media), ""])
    return "\n".join(out).rstrip() + "\n"
