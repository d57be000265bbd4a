"""Writing conversation folders: each one's page, media and manifest, only when what it
shows changed (its plan's fingerprint, mediasyncd.export.plan)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import jinja2

from mediasyncd import faults
from mediasyncd.export.media import ensure_real_dir
from mediasyncd.export.model import (
    MANIFEST_NAME,
    MEDIA_DIR,
    PAGE_NAMES,
    ConversationPlan,
    ConversationSummary,
    ExportError,
)
from mediasyncd.export.plan import assign_folders, build_plans, load_summaries
from mediasyncd.export.run import ExportRun, files_state, placed
from mediasyncd.export.state import (
    remove_folder,
    remove_stale_temp_files,
    write_json_atomic,
    write_text_atomic,
)
from mediasyncd.export.thread import attach_media, dedupe_adjacent, layout, load_messages
from mediasyncd.logconfig import get_logger

log = get_logger("mediasyncd.export")

SAVE_EVERY: Final = 500


def write_conversations(
    run: ExportRun,
    only: Sequence[str],
    since: float | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Rewrite the conversations whose pages changed (of those `only`/`since` select);
    remove the folders of those the index lost."""
    summaries = load_summaries(run.index)
    previous = {cid: str(e["folder"]) for cid, e in run.state.conversations.items()}
    folders = assign_folders(summaries, previous)
    run.assigned = set(folders.values())
    known = {s.id for s in summaries}
    run.summary.conversations = len(summaries)
    # Gone from the index: their folders go (whatever the filters say).
    for cid in sorted(set(run.state.conversations) - known):
        gone = run.state.conversations.pop(cid)
        if gone["folder"] not in run.assigned:
            remove_folder(run.out_dir, str(gone["folder"]))
        run.summary.removed += 1
        run.changed = True
    unknown = sorted(set(only) - known)
    if unknown:
        raise ExportError(f"no conversation with id {', '.join(unknown[:5])} in the index")
    selected = _select(summaries, only, since)
    saved_at = 0
    for done, plan in enumerate(build_plans(run.index, selected, folders, run.salt), 1):
        entry = run.state.conversations.get(plan.id)
        if (
            entry is not None
            and entry.get("fingerprint") == plan.fingerprint
            and entry.get("folder") == plan.folder
            and (run.out_dir / plan.folder / PAGE_NAMES[run.fmt]).is_file()
            and run.media_current(entry)
        ):
            run.summary.unchanged += 1
        else:
            _write_conversation(run, plan, entry)
        if progress is not None:
            progress(done, len(selected))
        if run.summary.written - saved_at >= SAVE_EVERY:
            # A long first export interrupted late need not start over.
            run.state.save(run.out_dir)
            saved_at = run.summary.written


def _write_conversation(
    run: ExportRun, plan: ConversationPlan, entry: dict[str, Any] | None
) -> None:
    folder = run.out_dir / plan.folder
    try:
        ensure_real_dir(folder)
        remove_stale_temp_files(folder)
        previous_media = {}
        if entry is not None and entry.get("folder") == plan.folder:
            previous_media = placed(entry)
        run.place(folder, plan.files, previous_media)
        page = _render_conversation(run, plan)
        write_text_atomic(folder / PAGE_NAMES[run.fmt], page)
        write_json_atomic(folder / MANIFEST_NAME, _manifest(plan))
        for other_fmt, name in PAGE_NAMES.items():
            if other_fmt != run.fmt:
                (folder / name).unlink(missing_ok=True)
        faults.point("export.after_conversation")
    except (OSError, ValueError, jinja2.TemplateError) as exc:
        # A full disk, a name the filesystem refuses, text it cannot encode: this
        # conversation is reported and retried next run; the others still land.
        log.warning("export.conversation_failed", conversation=plan.id, error=str(exc))
        run.summary.failures.append({"conversation_id": plan.id, "error": str(exc)})
        return
    # A file the store lacked is shown as missing; render again next run in case it
    # comes back.
    complete = all(f.available for f in plan.files)
    run.state.conversations[plan.id] = {
        "folder": plan.folder,
        "fingerprint": plan.fingerprint if complete else "",
        "title": plan.summary.title,
        "created": plan.summary.create_time,
        "updated": plan.summary.update_time,
        "messages": plan.summary.message_count,
        "missing": len(plan.missing),
        "files": files_state(plan.files),
        "media_mode": run.media_mode,
    }
    old_folder = entry.get("folder") if entry is not None else None
    if old_folder is not None and old_folder != plan.folder and old_folder not in run.assigned:
        # Renamed (its title changed): the old folder goes once the new one is written.
        remove_folder(run.out_dir, str(old_folder))
    run.summary.written += 1
    run.changed = True


def _render_conversation(run: ExportRun, plan: ConversationPlan) -> str:
    messages = load_messages(run.index, run.store, plan.id)
    loose_files, loose_missing = attach_media(messages, plan.files, plan.missing)
    items = layout(messages)
    dedupe_adjacent(items, lambda media: media.digest)
    page: str = run.renderer.render_conversation(
        plan.summary,
        items,
        loose_files,
        loose_missing,
        files_count=len(plan.files),
        missing_count=len(plan.missing),
    )
    return page


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
