"""HTML pages: Jinja2 templates under mediasyncd/templates/export/, autoescaped.

Every text from an export (titles, message text, file names, prompts, ids) goes through
Jinja's autoescaping, so `<script>` or `"><img onerror=…>` shows as text. Message text is
shown as written (white-space preserved), not rendered as Markdown: no link in it becomes
clickable, so a `javascript:` link is only text. On top of that each page carries a
Content-Security-Policy that forbids scripts (the index allows its own filter script, by
hash), so an escaping mistake could still not run code. Pages are self-contained (CSS
inline) and use relative links only, so they open from disk (file://) and work with
scripts off.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from importlib import resources
from typing import Any, Final

import jinja2
from markupsafe import Markup

from mediasyncd import __version__
from mediasyncd.export.model import (
    INDEX_NAMES,
    MANIFEST_NAME,
    MEDIA_INDEX_NAME,
    ConversationSummary,
    MediaFile,
    MissingRef,
)
from mediasyncd.export.thread import Item

ROLE_CLASSES: Final = {
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "system": "system",
    "critic": "tool",
    "developer": "system",
}
ROLE_LABELS: Final = {
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
    "system": "System",
    "developer": "Developer",
}
KIND_LABELS: Final = {
    "image_asset_pointer": "Image",
    "audio_asset_pointer": "Voice clip",
    "video_container_asset_pointer": "Video",
    "frame_asset_pointer": "Video frame",
    "real_time_user_audio_video_asset_pointer": "Voice/video clip",
    "attachment": "Attachment",
    "code_interpreter_image": "Chart",
    "library_file": "Library file",
    "langfuse_media": "Langfuse media",
}
ASSOCIATION_LABELS: Final = {
    "generated": "Generated",
    "attachment": "Uploaded",
    "inline": "Inline",
}

# The index's filter: the only script in an export. It shows the filter box (hidden when
# scripts are off) and hides rows whose text does not contain what is typed.
FILTER_SCRIPT: Final = (
    "(function(){var f=document.getElementById('filter');if(!f)return;f.hidden=false;"
    "var rows=Array.prototype.slice.call(document.querySelectorAll('#conversations tbody tr'));"
    "var texts=rows.map(function(r){return r.textContent.toLowerCase();});"
    "f.addEventListener('input',function(){var q=f.value.trim().toLowerCase();"
    "for(var i=0;i<rows.length;i++){rows[i].hidden=q!==''&&texts[i].indexOf(q)<0;}});})();"
)


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def when(seconds: float | None, zone: tzinfo = UTC) -> str:
    if seconds is None:
        return "unknown"
    try:
        moment = datetime.fromtimestamp(seconds, zone)
    except (OverflowError, OSError, ValueError):
        return "unknown"
    label = "UTC" if zone is UTC else moment.strftime("%Z") or moment.strftime("%z")
    return f"{moment.strftime('%Y-%m-%d %H:%M')} {label}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def role_class(role: str | None) -> str:
    return ROLE_CLASSES.get(role or "", "other")


def role_label(role: str | None) -> str:
    return ROLE_LABELS.get(role or "", role or "Unknown")


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, "File")


def association_label(association: str) -> str:
    return ASSOCIATION_LABELS.get(association, association)


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mediasyncd", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        when=when,
        human_size=human_size,
        role_class=role_class,
        role_label=role_label,
        pct=lambda value: f"{float(value):.2f}",
    )
    env.globals.update(
        kind_label=kind_label,
        association_label=association_label,
        version=__version__,
        index_name=INDEX_NAMES["html"],
        manifest_name=MANIFEST_NAME,
        media_index_name=MEDIA_INDEX_NAME,
    )
    return env


@functools.cache
def template_fingerprint() -> str:
    """A hash of every template file: editing a template re-renders every page."""
    digest = hashlib.sha256()
    folder = resources.files("mediasyncd") / "templates" / "export"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()[:16]


# Controls and bidirectional overrides in a title would make it read as something else
# (U+202E turns "evil.exe" around); they are never part of a legitimate title.
_TITLE_NOISE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def display_title(title: str | None) -> str:
    cleaned = " ".join(_TITLE_NOISE.sub(" ", title).split()) if title else ""
    return cleaned or "Untitled conversation"


def render_conversation(
    summary: ConversationSummary,
    items: Sequence[Item],
    loose_files: Sequence[MediaFile],
    loose_missing: Sequence[MissingRef],
    *,
    files_count: int,
    missing_count: int,
) -> str:
    return (
        environment()
        .get_template("export/conversation.html")
        .render(
            title=display_title(summary.title),
            summary=summary,
            items=items,
            loose_files=loose_files,
            loose_missing=loose_missing,
            files_count=files_count,
            missing_count=missing_count,
            script_policy="'none'",
        )
    )


def render_index(rows: Sequence[dict[str, Any]], users: Sequence[dict[str, Any]]) -> str:
    return (
        environment()
        .get_template("export/index.html")
        .render(
            rows=rows,
            users=users,
            media_total=sum(int(r["media"]) for r in rows),
            missing_total=sum(int(r["missing"]) for r in rows),
            filter_script=Markup(FILTER_SCRIPT),  # noqa: S704 - a constant, not input
            script_policy=_script_hash(FILTER_SCRIPT),
        )
    )


def render_traces(context: dict[str, Any]) -> str:
    return (
        environment().get_template("export/traces.html").render(script_policy="'none'", **context)
    )
