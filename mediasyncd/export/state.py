"""What the last export wrote, kept in `<DIR>/.mediasyncd-export.json`, and safe writes.

The state file remembers, per conversation (and per trace user), the folder it got and
the fingerprint of what was rendered into it, plus the counts the index page lists. A
re-export rewrites only the folders whose fingerprint changed and removes the folders of
conversations the index no longer has. Only folders named in this file are ever deleted,
and only after checking the name is one plain component inside DIR.

Every file is written to a temporary name in its folder and renamed into place, so an
interrupted export leaves each page either old or new, never half-written. The state is
saved after the pages it describes (and periodically during a long run), so a crash
at worst makes the next run redo some conversations.

One export writes to a DIR at a time: an advisory lock on `.mediasyncd-export.lock` keeps
the daemon's export and a manual one from interleaving.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mediasyncd.export import naming
from mediasyncd.export.media import is_temp_name, temp_name
from mediasyncd.export.model import FORMATS, USERS_DIR, ExportError

STATE_NAME: Final = ".mediasyncd-export.json"
LOCK_NAME: Final = ".mediasyncd-export.lock"
STATE_VERSION: Final = 1


def write_bytes_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write `path` through a temp name + rename; the temp name never follows a symlink."""
    temp = temp_name(path)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        temp.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_text_atomic(path: Path, text: str, *, fsync: bool = False) -> None:
    write_bytes_atomic(path, text.encode("utf-8", "surrogateescape"), fsync=fsync)


def write_json_atomic(path: Path, data: Any, *, fsync: bool = False, compact: bool = False) -> None:
    # Large files (the state, media_index.json) are compact: json's C encoder only runs
    # without indentation, and they are read by programs.
    if compact:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(data, indent=1, ensure_ascii=False)
    write_text_atomic(path, text + "\n", fsync=fsync)


@dataclass
class ExportState:
    """The content of the state file; `conversations` and `users` map id -> entry."""

    format: str = ""
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "format": self.format,
            "conversations": dict(sorted(self.conversations.items())),
            "users": dict(sorted(self.users.items())),
        }

    def save(self, out_dir: Path) -> None:
        write_json_atomic(out_dir / STATE_NAME, self.to_json(), fsync=True, compact=True)


def load_state(out_dir: Path) -> ExportState:
    """The last export's state; a missing, unreadable or foreign file means 'start over'
    (every folder is rewritten; folders it named are unknown, so none is deleted)."""
    path = out_dir / STATE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ExportState()
    except (OSError, UnicodeDecodeError, ValueError):
        return ExportState()
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return ExportState()
    fmt = data.get("format")
    state = ExportState(format=fmt if isinstance(fmt, str) and fmt in FORMATS else "")
    for key, target, checker in (
        ("conversations", state.conversations, _valid_folder),
        ("users", state.users, _valid_user_folder),
    ):
        entries = data.get(key)
        if not isinstance(entries, dict):
            continue
        for ident, entry in entries.items():
            if isinstance(entry, dict) and checker(entry.get("folder")):
                target[str(ident)] = entry
    return state


def _valid_folder(name: Any) -> bool:
    return isinstance(name, str) and naming.is_safe_component(name) and name != USERS_DIR


def _valid_user_folder(name: Any) -> bool:
    return isinstance(name, str) and naming.is_safe_component(name)


def check_target(out_dir: Path, state_dir: Path | None) -> None:
    """Refuse targets an export must not write to: the store itself, or a folder that
    holds other things (an export only ever writes into an empty folder or its own)."""
    resolved = out_dir.resolve()
    if state_dir is not None:
        state = state_dir.resolve()
        if resolved == state or resolved.is_relative_to(state / "objects"):
            raise ExportError("an export cannot be written into the state dir", path=out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError("exists and is not a folder", path=out_dir)
    if out_dir.is_dir() and not (out_dir / STATE_NAME).exists():
        others = [
            e.name for e in os.scandir(out_dir) if e.name != LOCK_NAME and not is_temp_name(e.name)
        ]
        if others:
            raise ExportError(
                "is not empty and holds no mediasyncd export "
                f"(found {', '.join(sorted(others)[:3])}); choose a new or empty folder",
                path=out_dir,
            )


@contextlib.contextmanager
def export_lock(out_dir: Path) -> Iterator[None]:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the folder: {exc.strerror or exc}", path=out_dir) from exc
    fd = os.open(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError("another export is writing to this folder", path=out_dir) from None
        yield
    finally:
        os.close(fd)


def remove_folder(out_dir: Path, name: str, *, parent: str | None = None) -> bool:
    """Remove one folder the state names, never anything outside `out_dir`."""
    if not naming.is_safe_component(name):
        return False
    base = out_dir / parent if parent else out_dir
    target = base / name
    if target.is_symlink():
        target.unlink()
        return True
    if not target.exists():
        return False
    if target.resolve().parent != base.resolve():
        return False
    shutil.rmtree(target)
    return True


def remove_stale_temp_files(folder: Path) -> int:
    """Temp files an interrupted export left directly in `folder`."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    Path(entry.path).unlink()
                    removed += 1
    return removed
