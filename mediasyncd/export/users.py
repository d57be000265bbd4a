"""Writing the per-user trace pages (users/<user>/): each Langfuse trace with the photos
linked to it (mediasyncd.export.traces plans them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from mediasyncd.export import traces as trace_pages
from mediasyncd.export.media import ensure_real_dir
from mediasyncd.export.model import TRACE_PAGE_NAMES, USERS_DIR
from mediasyncd.export.run import ExportRun, files_state, placed
from mediasyncd.export.state import remove_folder, write_text_atomic
from mediasyncd.logconfig import get_logger
from mediasyncd.timeutil import parse_timezone

log = get_logger("mediasyncd.export")


def write_user_pages(run: ExportRun) -> None:
    """The per-user pages of photo-trace pairs, each rewritten only when it changed."""
    users = trace_pages.list_users(run.index)
    for user_id in sorted(set(run.state.users) - set(users)):
        gone = run.state.users.pop(user_id)
        remove_folder(run.out_dir, str(gone["folder"]), parent=USERS_DIR)
        run.summary.users_removed += 1
        run.changed = True
    if not users:
        users_dir = run.out_dir / USERS_DIR
        if users_dir.is_dir() and not any(users_dir.iterdir()):
            users_dir.rmdir()
        return
    zone_name = run.config.traces.display_timezone
    zone = parse_timezone(zone_name)
    salt = f"{run.salt}:{zone_name}"
    for plan in trace_pages.build_user_plans(run.index, users, salt):
        entry = run.state.users.get(plan.user_id)
        page_path = run.out_dir / USERS_DIR / plan.folder / TRACE_PAGE_NAMES[run.fmt]
        if (
            entry is not None
            and entry.get("fingerprint") == plan.fingerprint
            and (page_path.is_file())
            and run.media_current(entry)
        ):
            continue
        try:
            _write_user(
                run, plan, entry, page_path, trace_pages.page_context(plan, zone, zone_name)
            )
        except (OSError, ValueError, jinja2.TemplateError) as exc:
            log.warning("export.user_failed", user=plan.user_id, error=str(exc))
            run.summary.failures.append({"user_id": plan.user_id, "error": str(exc)})
            continue
        run.state.users[plan.user_id] = {
            "folder": plan.folder,
            "fingerprint": plan.fingerprint if all(f.available for f in plan.files) else "",
            "traces": len(plan.traces),
            "photos": len(plan.files),
            "paired": plan.paired,
            "files": files_state(plan.files),
            "media_mode": run.media_mode,
        }
        run.summary.users_written += 1
        run.changed = True


def _write_user(
    run: ExportRun,
    plan: trace_pages.UserPlan,
    entry: dict[str, Any] | None,
    page_path: Path,
    context: dict[str, Any],
) -> None:
    """One user's folder: its photos, then its page (in this run's format only)."""
    ensure_real_dir(run.out_dir / USERS_DIR)
    folder = run.out_dir / USERS_DIR / plan.folder
    ensure_real_dir(folder)
    run.place(folder, plan.files, placed(entry or {}))
    write_text_atomic(page_path, run.renderer.render_traces(context))
    for other_fmt, name in TRACE_PAGE_NAMES.items():
        if other_fmt != run.fmt:
            (folder / name).unlink(missing_ok=True)
