"""`export_archive`: browsable conversation folders, kept in sync with the index.

One run: lock DIR, read the last run's state, take one read snapshot of the index, plan
every conversation (cheap: a few bulk queries per 400 conversations), rewrite only the
folders whose fingerprint changed, remove the folders of conversations the index no
longer has, then the per-user trace pages, the top-level index page and
`media_index.json`. Nothing is written outside DIR. One conversation that cannot be
written (a full disk, an object gone from the store) is reported and retried next run;
the others still land.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import jinja2
import structlog

from mediasyncd import faults
from mediasyncd.config import Config
from mediasyncd.export import html as html_pages
from mediasyncd.export import markdown as md_pages
from mediasyncd.export import traces as trace_pages
from mediasyncd.export.media import MediaMode, MediaStats, ensure_real_dir, place_media
from mediasyncd.export.model import (
    FORMATS,
    INDEX_NAMES,
    MANIFEST_NAME,
    MEDIA_DIR,
    MEDIA_INDEX_NAME,
    PAGE_NAMES,
    TRACE_PAGE_NAMES,
    USERS_DIR,
    ConversationPlan,
    ConversationSummary,
    ExportError,
    ExportFormat,
)
from mediasyncd.export.plan import assign_folders, build_plans, load_summaries
from mediasyncd.export.state import (
    STATE_NAME,
    ExportState,
    check_target,
    export_lock,
    load_state,
    remove_folder,
    remove_stale_temp_files,
    write_json_atomic,
    write_text_atomic,
)
from mediasyncd.export.thread import attach_media, dedupe_adjacent, layout, load_messages
from mediasyncd.index import Index, objects
from mediasyncd.store import Store
from mediasyncd.timeutil import epoch_to_iso, parse_timezone

log = structlog.get_logger("mediasyncd.export")

# Bump when the code (not the templates: they are hashed) changes what a page shows.
RENDER_VERSION: Final = "1"
SAVE_EVERY: Final = 500


@dataclass
class ExportSummary:
    dir: str
    format: str
    conversations: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    users_written: int = 0
    users_removed: int = 0
    files_linked: int = 0
    files_cloned: int = 0
    files_copied: int = 0
    bytes_copied: int = 0
    files_missing: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


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
            # Claim DIR before the first folder lands, so a run killed before its first
            # save leaves a DIR the next run recognises as its own.
            state.save(out_dir)
        run = _Run(
            index, store, config, out_dir, chosen, state, summary, media or config.export.media
        )
        with index.read():
            run.conversations(conversations, since, progress)
            run.users()
        run.top_level()
        if run.changed:
            state.format = chosen
            state.save(out_dir)
    summary.seconds = time.monotonic() - started
    log.info("export.done", **{k: v for k, v in summary.to_json().items() if k != "failures"})
    return summary


class _Run:
    def __init__(
        self,
        index: Index,
        store: Store,
        config: Config,
        out_dir: Path,
        fmt: str,
        state: ExportState,
        summary: ExportSummary,
        media_mode: MediaMode,
    ):
        self.index = index
        self.store = store
        self.config = config
        self.out_dir = out_dir
        self.fmt = fmt
        self.state = state
        self.summary = summary
        self.media_mode = media_mode
        self.salt = f"{RENDER_VERSION}:{html_pages.template_fingerprint()}:{fmt}"
        self.changed = state.format != fmt
        self.media = MediaStats()
        self.assigned: set[str] = set()
        # Objects repaired since they were stored (few): their files are placed again.
        self.repairs = objects.repaired_blobs(index)

    # -- conversations ---------------------------------------------------------------------

    def conversations(
        self,
        only: Sequence[str],
        since: float | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        summaries = load_summaries(self.index)
        previous = {cid: str(e["folder"]) for cid, e in self.state.conversations.items()}
        folders = assign_folders(summaries, previous)
        self.assigned = set(folders.values())
        known = {s.id for s in summaries}
        self.summary.conversations = len(summaries)
        # Gone from the index: their folders go (whatever the filters say).
        for cid in sorted(set(self.state.conversations) - known):
            gone = self.state.conversations.pop(cid)
            if gone["folder"] not in self.assigned:
                remove_folder(self.out_dir, str(gone["folder"]))
            self.summary.removed += 1
            self.changed = True
        unknown = sorted(set(only) - known)
        if unknown:
            raise ExportError(f"no conversation with id {', '.join(unknown[:5])} in the index")
        selected = _select(summaries, only, since)
        saved_at = 0
        for done, plan in enumerate(build_plans(self.index, selected, folders, self.salt), 1):
            entry = self.state.conversations.get(plan.id)
            if (
                entry is not None
                and entry.get("fingerprint") == plan.fingerprint
                and entry.get("folder") == plan.folder
                and (self.out_dir / plan.folder / PAGE_NAMES[self.fmt]).is_file()
                and self._media_current(entry)
            ):
                self.summary.unchanged += 1
            else:
                self._write_conversation(plan, entry)
            if progress is not None:
                progress(done, len(selected))
            if self.summary.written - saved_at >= SAVE_EVERY:
                # A long first export interrupted late need not start over.
                self.state.save(self.out_dir)
                saved_at = self.summary.written

    def origin(self, digest: str) -> str:
        """Which version of an object an export file comes from: its repair count."""
        return str(self.repairs.get(digest, 0))

    def _media_current(self, entry: dict[str, Any]) -> bool:
        """Whether every file the last run placed comes from the current version of its
        object, placed the same way. A repaired object (quarantined by verify, then
        re-dropped) has a new version: its conversation is written again, so no export
        keeps the damaged bytes, nor a hard link to the damaged inode."""
        if entry.get("media_mode") != self.media_mode:
            return False
        return all(
            origin == self.origin(digest) for digest, (_d, origin) in _by_digest(entry).items()
        )

    def _write_conversation(self, plan: ConversationPlan, entry: dict[str, Any] | None) -> None:
        folder = self.out_dir / plan.folder
        try:
            ensure_real_dir(folder)
            remove_stale_temp_files(folder)
            previous_media = {}
            if entry is not None and entry.get("folder") == plan.folder:
                previous_media = _placed(entry)
            for media in plan.files:
                media.origin = self.origin(media.digest)
            stats = place_media(
                self.store,
                folder / MEDIA_DIR,
                plan.files,
                previous_media,
                mode=self.media_mode,
            )
            self.media.add(stats)
            page = self._render_conversation(plan)
            write_text_atomic(folder / PAGE_NAMES[self.fmt], page)
            write_json_atomic(folder / MANIFEST_NAME, _manifest(plan))
            for other_fmt, name in PAGE_NAMES.items():
                if other_fmt != self.fmt:
                    (folder / name).unlink(missing_ok=True)
            faults.point("export.after_conversation")
        except (OSError, ValueError, jinja2.TemplateError) as exc:
            # A full disk, a name the filesystem refuses, text it cannot encode: this
            # conversation is reported and retried next run; the others still land.
            log.warning("export.conversation_failed", conversation=plan.id, error=str(exc))
            self.summary.failures.append({"conversation_id": plan.id, "error": str(exc)})
            return
        # A file the store lacked is shown as missing; render again next run in case it
        # comes back.
        complete = all(f.available for f in plan.files)
        self.state.conversations[plan.id] = {
            "folder": plan.folder,
            "fingerprint": plan.fingerprint if complete else "",
            "title": plan.summary.title,
            "created": plan.summary.create_time,
            "updated": plan.summary.update_time,
            "messages": plan.summary.message_count,
            "missing": len(plan.missing),
            "files": [[f.digest, f.name, f.kind, f.mime, f.size, f.origin] for f in plan.files],
            "media_mode": self.media_mode,
        }
        old_folder = entry.get("folder") if entry is not None else None
        if old_folder is not None and old_folder != plan.folder and old_folder not in self.assigned:
            # Renamed (its title changed): the old folder goes once the new one is written.
            remove_folder(self.out_dir, str(old_folder))
        self.summary.written += 1
        self.changed = True

    def _render_conversation(self, plan: ConversationPlan) -> str:
        messages = load_messages(self.index, plan.id)
        loose_files, loose_missing = attach_media(messages, plan.files, plan.missing)
        items = layout(messages)
        dedupe_adjacent(items, lambda media: media.digest)
        renderer = html_pages if self.fmt == "html" else md_pages
        page: str = renderer.render_conversation(
            plan.summary,
            items,
            loose_files,
            loose_missing,
            files_count=len(plan.files),
            missing_count=len(plan.missing),
        )
        return page

    # -- trace users -----------------------------------------------------------------------

    def users(self) -> None:
        users = trace_pages.list_users(self.index)
        for user_id in sorted(set(self.state.users) - set(users)):
            gone = self.state.users.pop(user_id)
            remove_folder(self.out_dir, str(gone["folder"]), parent=USERS_DIR)
            self.summary.users_removed += 1
            self.changed = True
        if not users:
            users_dir = self.out_dir / USERS_DIR
            if users_dir.is_dir() and not any(users_dir.iterdir()):
                users_dir.rmdir()
            return
        zone_name = self.config.traces.display_timezone
        zone = parse_timezone(zone_name)
        salt = f"{self.salt}:{zone_name}"
        for plan in trace_pages.build_user_plans(self.index, users, salt):
            entry = self.state.users.get(plan.user_id)
            page_path = self.out_dir / USERS_DIR / plan.folder / TRACE_PAGE_NAMES[self.fmt]
            if (
                entry is not None
                and entry.get("fingerprint") == plan.fingerprint
                and (page_path.is_file())
                and self._media_current(entry)
            ):
                continue
            try:
                ensure_real_dir(self.out_dir / USERS_DIR)
                folder = self.out_dir / USERS_DIR / plan.folder
                ensure_real_dir(folder)
                for media in plan.files:
                    media.origin = self.origin(media.digest)
                self.media.add(
                    place_media(
                        self.store,
                        folder / MEDIA_DIR,
                        plan.files,
                        _placed(entry or {}),
                        mode=self.media_mode,
                    )
                )
                context = trace_pages.page_context(plan, zone, zone_name)
                renderer = html_pages if self.fmt == "html" else md_pages
                write_text_atomic(page_path, renderer.render_traces(context))
                for other_fmt, name in TRACE_PAGE_NAMES.items():
                    if other_fmt != self.fmt:
                        (folder / name).unlink(missing_ok=True)
            except (OSError, ValueError, jinja2.TemplateError) as exc:
                log.warning("export.user_failed", user=plan.user_id, error=str(exc))
                self.summary.failures.append({"user_id": plan.user_id, "error": str(exc)})
                continue
            self.state.users[plan.user_id] = {
                "folder": plan.folder,
                "fingerprint": plan.fingerprint if all(f.available for f in plan.files) else "",
                "traces": len(plan.traces),
                "photos": len(plan.files),
                "paired": plan.paired,
                "files": [[f.digest, f.name, f.kind, f.mime, f.size, f.origin] for f in plan.files],
                "media_mode": self.media_mode,
            }
            self.summary.users_written += 1
            self.changed = True

    # -- top level -------------------------------------------------------------------------

    def top_level(self) -> None:
        self.summary.files_linked = self.media.linked
        self.summary.files_cloned = self.media.cloned
        self.summary.files_copied = self.media.copied
        self.summary.bytes_copied = self.media.bytes_copied
        self.summary.files_missing = self.media.missing
        rows = _index_rows(self.state, self.fmt)
        users = [
            {
                "user_id": uid,
                "href": f"{USERS_DIR}/{quote(str(e['folder']))}/{TRACE_PAGE_NAMES[self.fmt]}",
                "traces": e.get("traces", 0),
                "photos": e.get("photos", 0),
                "paired": e.get("paired", 0),
            }
            for uid, e in sorted(self.state.users.items())
        ]
        index_path = self.out_dir / INDEX_NAMES[self.fmt]
        media_index = self.out_dir / MEDIA_INDEX_NAME
        if not self.changed and index_path.is_file() and media_index.is_file():
            return
        renderer = html_pages if self.fmt == "html" else md_pages
        write_text_atomic(index_path, renderer.render_index(rows, users))
        for other_fmt, name in INDEX_NAMES.items():
            if other_fmt != self.fmt:
                (self.out_dir / name).unlink(missing_ok=True)
        write_json_atomic(media_index, _media_index(self.state, self.fmt), compact=True)
        # The state must name this DIR as an export even when no conversation was written.
        self.changed = True


def _by_digest(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """digest -> (name, origin) of the files the last run placed."""
    return {digest: (name, origin) for name, (digest, origin) in _placed(entry).items()}


def _placed(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (digest, object identity) of the files the last run placed."""
    placed: dict[str, tuple[str, str]] = {}
    for row in entry.get("files", []):
        origin = str(row[5]) if len(row) > 5 else ""
        placed[str(row[1])] = (str(row[0]), origin)
    return placed


def _select(
    summaries: Sequence[ConversationSummary], only: Sequence[str], since: float | None
) -> list[ConversationSummary]:
    wanted = set(only)
    out = []
    for s in summaries:
        if wanted and s.id not in wanted:
            continue
        if since is not None:
            moment = s.update_time if s.update_time is not None else s.create_time
            if moment is None or moment < since:
                continue
        out.append(s)
    return out


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


def _manifest(plan: ConversationPlan) -> dict[str, Any]:
    return {
        "conversation_id": plan.id,
        "title": plan.summary.title,
        "folder": plan.folder,
        # One record per link: a generated image linked to the tool message and to the
        # assistant's reply appears twice, with the same file.
        "files": [
            {
                "digest": f.digest,
                "name": f.name,
                "path": f"{MEDIA_DIR}/{f.name}",
                "kind": f.kind,
                "mime": f.mime,
                "size": f.size,
                "available": f.available,
                "message": link.message_id,
                "strategy": link.strategy,
                "association": link.association,
                "confidence": link.confidence,
                "prompt": link.prompt,
            }
            for f in plan.files
            for link in f.links
        ],
        "unresolved": [
            {
                "message": ref.message_id,
                "kind": ref.kind,
                "key": ref.key,
                "association": ref.association,
                "name": ref.name,
                "prompt": ref.prompt,
            }
            for ref in plan.missing
        ],
    }


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
