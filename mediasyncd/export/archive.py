"""`export_archive`: browsable conversation folders, kept in sync with the index.

One run: lock DIR, read the last run's state, take one read snapshot of the index, plan
every conversation (cheap: a few bulk queries per 400 conversations), rewrite only the
folders whose fingerprint changed, remove the folders of conversations the index no
longer has, then the per-user trace pages, the top-level index page and
`media_index.json`. Nothing is written outside DIR. One conversation that cannot be
written (a full disk, an object gone from the store) is reported and retried next run;
the others still land. The conversation folders are written by
mediasyncd.export.conversations, the user pages by mediasyncd.export.users.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mediasyncd.config import Config
from mediasyncd.export import html as html_pages
from mediasyncd.export import markdown as md_pages
from mediasyncd.export.conversations import write_conversations
from mediasyncd.export.media import MediaMode
from mediasyncd.export.model import (
    FORMATS,
    INDEX_NAMES,
    MEDIA_DIR,
    MEDIA_INDEX_NAME,
    PAGE_NAMES,
    TRACE_PAGE_NAMES,
    USERS_DIR,
    ExportError,
    ExportFormat,
    ExportSummary,
)
from mediasyncd.export.run import ExportRun
from mediasyncd.export.state import (
    STATE_NAME,
    ExportState,
    check_target,
    export_lock,
    load_state,
    remove_stale_temp_files,
    write_json_atomic,
    write_text_atomic,
)
from mediasyncd.export.users import write_user_pages
from mediasyncd.index import Index
from mediasyncd.logconfig import get_logger
from mediasyncd.store import Store
from mediasyncd.timeutil import epoch_to_iso

log = get_logger("mediasyncd.export")

_A_FORMAT = {"html": "an HTML", "markdown": "a Markdown"}


def configured_dir(config: Config) -> Path | None:
    """The config's `export.dir` (relative to the config file), or None when unset: what
    the daemon passes to `export_archive` after an ingest."""
    if not config.export.dir:
        return None
    path = Path(config.export.dir).expanduser()
    if not path.is_absolute() and config.source_path is not None:
        path = config.source_path.parent / path
    return path.absolute()


def export_archive(
    index: Index,
    store: Store,
    config: Config,
    out_dir: Path,
    *,
    fmt: ExportFormat | None = None,
    conversations: Sequence[str] = (),
    since: float | None = None,
    state_dir: Path | None = None,
    media: MediaMode | None = None,
    progress: Callable[[int, int], None] | None = None,
    replace_format: bool = True,
) -> ExportSummary:
    """Export (or bring up to date) `out_dir`; `conversations`/`since` limit what is
    rewritten, never what is removed: a conversation the index lost always goes.

    An export of the other format in `out_dir` is replaced page by page, unless
    `replace_format` is False (the CLI without --force): then it is an error. `media` is
    how files get into the export (default: the config's export.media)."""
    started = time.monotonic()
    chosen: str = fmt or config.export.format
    if chosen not in FORMATS:
        raise ExportError(f"unknown format {chosen!r} (html or markdown)")
    out_dir = Path(out_dir).absolute()
    check_target(out_dir, state_dir if state_dir is not None else store.local_root())
    summary = ExportSummary(dir=str(out_dir), format=chosen)
    with export_lock(out_dir):
        state = _last_state(out_dir, chosen, replace_format)
        run = ExportRun(
            index, store, config, out_dir, chosen, state, summary, media or config.export.media
        )
        with index.read():
            write_conversations(run, conversations, since, progress)
            write_user_pages(run)
        _top_level(run)
        if run.changed:
            state.format = chosen
            state.save(out_dir)
    summary.seconds = time.monotonic() - started
    log.info("export.done", **{k: v for k, v in summary.to_json().items() if k != "failures"})
    return summary


def _last_state(out_dir: Path, chosen: str, replace_format: bool) -> ExportState:
    """What the last run wrote into DIR (which this run claims, if it is new)."""
    remove_stale_temp_files(out_dir)
    state = load_state(out_dir)
    if state.format and state.format != chosen and not replace_format:
        raise ExportError(
            f"holds {_A_FORMAT[state.format]} export of {len(state.conversations)} "
            f"conversations; writing {_A_FORMAT[chosen]} one would replace every page. "
            "Choose another folder, or pass --force to replace it",
            path=out_dir,
        )
    if not (out_dir / STATE_NAME).is_file():
        # Claim DIR before the first folder lands, so a run killed before its first save
        # leaves a DIR the next run recognises as its own.
        state.save(out_dir)
    return state


def _top_level(run: ExportRun) -> None:
    """The index page and media_index.json, rewritten when anything changed."""
    run.summary.files_linked = run.media.linked
    run.summary.files_cloned = run.media.cloned
    run.summary.files_copied = run.media.copied
    run.summary.bytes_copied = run.media.bytes_copied
    run.summary.files_missing = run.media.missing
    rows = _index_rows(run.state, run.fmt)
    users = [
        {
            "user_id": uid,
            "href": f"{USERS_DIR}/{quote(str(e['folder']))}/{TRACE_PAGE_NAMES[run.fmt]}",
            "traces": e.get("traces", 0),
            "photos": e.get("photos", 0),
            "paired": e.get("paired", 0),
        }
        for uid, e in sorted(run.state.users.items())
    ]
    index_path = run.out_dir / INDEX_NAMES[run.fmt]
    media_index = run.out_dir / MEDIA_INDEX_NAME
    if not run.changed and index_path.is_file() and media_index.is_file():
        return
    renderer = html_pages if run.fmt == "html" else md_pages
    write_text_atomic(index_path, renderer.render_index(rows, users))
    for other_fmt, name in INDEX_NAMES.items():
        if other_fmt != run.fmt:
            (run.out_dir / name).unlink(missing_ok=True)
    write_json_atomic(media_index, _media_index(run.state, run.fmt), compact=True)
    # The state must name this DIR as an export even when no conversation was written.
    run.changed = True


def _index_rows(state: ExportState, fmt: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for cid, entry in state.conversations.items():
        raw = entry.get("created")
        created = float(raw) if isinstance(raw, int | float) else None
        rows.append(
            {
                "id": cid,
                "sort": created if created is not None else float("-inf"),
                "date": (epoch_to_iso(created) or "")[:10] if created is not None else "",
                "title": html_pages.display_title(entry.get("title")),
                "href": f"{quote(str(entry['folder']))}/{PAGE_NAMES[fmt]}",
                "messages": int(entry.get("messages") or 0),
                "media": len(entry.get("files") or []),
                "missing": int(entry.get("missing") or 0),
            }
        )
    # Newest first, as chat apps list them; ties by id so the page is deterministic.
    rows.sort(key=lambda r: (-float(r["sort"]), str(r["id"])))
    return rows


def _media_index(state: ExportState, fmt: str) -> dict[str, Any]:
    digests: dict[str, dict[str, Any]] = {}
    for kind, entries, base in (
        ("conversations", state.conversations, ""),
        ("users", state.users, f"{USERS_DIR}/"),
    ):
        for ident, entry in sorted(entries.items()):
            for digest, name, file_kind, mime, size, *_origin in entry.get("files", []):
                record = digests.setdefault(
                    str(digest),
                    {
                        "kind": file_kind,
                        "mime": mime,
                        "size": size,
                        "conversations": [],
                        "users": [],
                    },
                )
                record[kind].append(
                    {
                        "id": ident,
                        "folder": f"{base}{entry['folder']}",
                        "path": f"{base}{entry['folder']}/{MEDIA_DIR}/{name}",
                    }
                )
    return {"format": fmt, "digests": dict(sorted(digests.items()))}
