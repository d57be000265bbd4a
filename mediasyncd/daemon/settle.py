"""Settling: a drop is handed to the queue only once it is complete.

A browser, `cp`, Syncthing or an unzip write drops over seconds or hours; ingesting one
half-way would store a truncated zip and mark it failed. A drop is settled when:
- its fingerprint (size, mtime, inode for a file; the listing of names, sizes and mtimes
  for a folder) has not changed for `watch.settle_seconds`, and no watcher event touched
  it in that time;
- no process holds it (or, for a folder, anything in it) open for writing, where that can
  be seen in `/proc/*/fd` (other users' processes are invisible without privileges, and
  under the unit's `ProtectProc=invisible`);
- a zip's central directory is readable (the end record is written last), unless the zip
  has been stable and unreadable for `watch.incomplete_zip_seconds` (counted from its
  mtime too, so a daemon restart does not start the wait again): then it is passed on
  so the ingest reports it as a damaged zip instead of waiting forever. A `.zip` that is
  empty or does not start like a zip at all is no zip being written: once it has been
  still for the settle time with no writer, it is passed on at once and the ingest says
  what it is;
- a folder holds no file with an in-progress name (`*.part`, `.syncthing.*`, ...).
Temp names at the top level are never drops at all; they become one when renamed.

Time comes from an injectable clock so tests can drive settling without sleeping.
"""

from __future__ import annotations

import fnmatch
import os
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mediasyncd.config import MAX_FOLDER_DEPTH
from mediasyncd.fs.guard import RefusedPath, check, open_file, read_head
from mediasyncd.fs.pathtext import path_text
from mediasyncd.fs.tree import TreeWalk
from mediasyncd.ingest.fingerprint import fingerprint_of
from mediasyncd.logconfig import get_logger
from mediasyncd.sources.safety import count_central_records
from mediasyncd.sources.zipnames import open_zip

log = get_logger("mediasyncd.daemon")

# O_ACCMODE bits in /proc/<pid>/fdinfo/<fd> "flags:" (octal): write-only or read-write.
_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)
# Patterns that mean "hidden file", not "still being written"; inside a folder drop a
# dotfile such as .DS_Store is ordinary content.
_PLAIN_DOTFILE = ".*"


def is_ignored(name: str, patterns: Iterable[str]) -> bool:
    """Whether a top-level name is a temp name (glob patterns on the name only)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def in_progress_member(folder: Path, patterns: Iterable[str]) -> Path | None:
    """A file inside a folder drop whose name says it is still being written, if any."""
    inside = [p for p in patterns if p != _PLAIN_DOTFILE]
    if not inside:
        return None
    for level in TreeWalk(folder, MAX_FOLDER_DEPTH):
        for entry in level.files:
            if is_ignored(entry.name, inside):
                return entry.path
    return None


def looks_like_zip(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        return True
    return starts_like_zip(path)


def starts_like_zip(path: Path) -> bool:
    """Whether the first bytes are a zip's (a local header, or an empty zip's end record);
    an empty file or an HTML error page saved as `.zip` is not a zip still being written.
    Never follows a symlink or blocks on a FIFO (see fsguard)."""
    return read_head(path, 4) in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


_ENOUGH_RECORDS = 1000
# How many refused paths the settler remembers (to log each once).
_REFUSALS_REMEMBERED = 10_000


def zip_problem(path: Path) -> str | None:
    """None when the zip's central directory can be read, else why not."""
    try:
        with open_file(path) as handle:
            # The end record and the first thousand records read: the zip is complete.
            # Listing a million-member zip with zipfile would cost the daemon ~0.6 GB.
            if count_central_records(handle, stop_after=_ENOUGH_RECORDS) > _ENOUGH_RECORDS:
                return None
            with open_zip(handle) as archive:
                archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return str(exc) or type(exc).__name__
    return None


def open_writers(targets: Iterable[Path], proc: Path = Path("/proc")) -> dict[Path, int]:
    """Which of `targets` (files, or folders and everything under them) a process holds
    open for writing; maps the target to one such pid. Processes we may not inspect are
    skipped: this is a best-effort check on top of the quiet time."""
    wanted = {str(t): t for t in targets}
    if not wanted:
        return {}
    prefixes = tuple(f"{t}/" for t in wanted)
    found: dict[Path, int] = {}
    try:
        pids = [entry.name for entry in os.scandir(proc) if entry.name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = proc / pid / "fd"
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target in wanted:
                key = wanted[target]
            elif target.startswith(prefixes):
                key = next(wanted[p[:-1]] for p in prefixes if target.startswith(p))
            else:
                continue
            if key in found or not _opened_for_writing(proc / pid / "fdinfo" / fd.name):
                continue
            found[key] = int(pid)
    return found


def _opened_for_writing(fdinfo: Path) -> bool:
    try:
        text = fdinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags:"):
            flags = int(line.split()[1], 8)
            return (flags & os.O_ACCMODE) in _WRITE_MODES
    return False


@dataclass(frozen=True)
class Settled:
    path: Path
    fingerprint: str


@dataclass
class _Entry:
    path: Path
    last_change: float
    fingerprint: str | None = None
    next_check: float = 0.0
    not_before: float = 0.0
    # The last reason it was held back, so each reason is logged once, not every tick.
    waiting_for: str | None = None


class Settler:
    """Tracks candidate drops until they are complete. Owned by one thread."""

    def __init__(
        self,
        settle_seconds: float,
        ignore: Iterable[str],
        *,
        incomplete_zip_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        writers: Callable[[Iterable[Path]], dict[Path, int]] = open_writers,
        check_interval: float | None = None,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.settle_seconds = settle_seconds
        self._check_interval = check_interval
        self.ignore = list(ignore)
        self.incomplete_zip_seconds = incomplete_zip_seconds
        self.clock = clock
        self.wall_clock = wall_clock
        self.writers = writers
        self._entries: dict[Path, _Entry] = {}
        # Paths refused at lstat and the reason logged, so an event storm on a FIFO
        # logs it once.
        self._refused: dict[Path, str] = {}

    @property
    def check_interval(self) -> float:
        if self._check_interval is not None:
            return self._check_interval
        # Often enough that a drop goes through at most ~a second after its quiet time.
        return max(0.05, min(1.0, self.settle_seconds / 3))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: Path) -> bool:
        return path in self._entries

    def touch(self, path: Path, *, changed: bool = True) -> None:
        """Track `path`. An event (`changed`) restarts its quiet time; a reconcile hit
        (`changed=False`) only adds a drop not yet tracked, so periodic scans never keep
        a quiet drop from settling. A symlink, FIFO, socket or device is refused here, at
        lstat, before anything opens or walks it."""
        if is_ignored(path.name, self.ignore) or not self._acceptable(path):
            return
        now = self.clock()
        entry = self._entries.get(path)
        if entry is None:
            self._entries[path] = _Entry(path, last_change=now, next_check=now)
            log.debug("drop.seen", source=path_text(path))
        elif changed:
            entry.last_change = now

    def defer(self, path: Path, seconds: float) -> None:
        """Track `path` again, but do not pass it on for `seconds` (a retry's backoff)."""
        self.touch(path)
        entry = self._entries.get(path)
        if entry is not None:
            entry.not_before = self.clock() + seconds

    def forget(self, path: Path) -> None:
        self._entries.pop(path, None)

    def _acceptable(self, path: Path) -> bool:
        try:
            check(path)
        except RefusedPath as exc:
            self.refuse(path, exc.strerror or "not read")
            return False
        except OSError:
            pass  # gone already: poll() says so if it was tracked
        self._refused.pop(path, None)
        return True

    def refuse(self, path: Path, reason: str) -> None:
        """Stop tracking a drop that is not read, saying why once per reason."""
        self.forget(path)
        if self._refused.get(path) != reason:
            if len(self._refused) >= _REFUSALS_REMEMBERED:
                self._refused.clear()
            self._refused[path] = reason
            log.warning("drop.refused", source=path_text(path), reason=reason)

    def poll(self) -> list[Settled]:
        """Check the candidates that are due; return those that are complete (and forget them)."""
        now = self.clock()
        stable: list[_Entry] = []
        for entry in list(self._entries.values()):
            if entry.next_check > now:
                continue
            started = time.monotonic()
            try:
                fingerprint, _ = fingerprint_of(entry.path)
            except RefusedPath as exc:
                # Swapped for a link or a FIFO since it was first seen.
                self.refuse(entry.path, exc.strerror or "not read")
                continue
            except OSError:
                # Gone (moved out or deleted before its turn) or unreadable: nothing to do;
                # a drop that comes back is seen again.
                log.info("drop.vanished", source=path_text(entry.path))
                self.forget(entry.path)
                continue
            # A big folder takes a while to list: look at it less often than a file.
            spent = time.monotonic() - started
            entry.next_check = now + max(self.check_interval, 5 * spent)
            if fingerprint != entry.fingerprint:
                # First look, or it changed: the quiet time starts now.
                entry.fingerprint = fingerprint
                entry.last_change = now
                continue
            if now - entry.last_change < self.settle_seconds or now < entry.not_before:
                continue
            stable.append(entry)
        if not stable:
            return []
        busy = self.writers([e.path for e in stable])
        settled: list[Settled] = []
        for entry in stable:
            reason = self._holdback(entry, busy.get(entry.path), now)
            if reason is not None:
                if reason != entry.waiting_for:
                    entry.waiting_for = reason
                    log.info("drop.waiting", source=path_text(entry.path), reason=reason)
                continue
            assert entry.fingerprint is not None
            settled.append(Settled(entry.path, entry.fingerprint))
            self.forget(entry.path)
            log.info(
                "drop.settled",
                source=path_text(entry.path),
                quiet_seconds=round(now - entry.last_change, 3),
            )
        return settled

    def _holdback(self, entry: _Entry, writer: int | None, now: float) -> str | None:
        """Why a quiet drop is not complete yet, or None."""
        if writer is not None:
            return f"open for writing by pid {writer}"
        path = entry.path
        if entry.fingerprint is not None and entry.fingerprint.startswith("dir:"):
            member = in_progress_member(path, self.ignore)
            if member is not None:
                return f"{member.relative_to(path)} is still being written"
            return None
        if looks_like_zip(path) and starts_like_zip(path):
            problem = zip_problem(path)
            if problem is not None and self._may_still_grow(entry, now):
                return f"zip not complete yet ({problem})"
        return None

    def _may_still_grow(self, entry: _Entry, now: float) -> bool:
        """A zip without its central directory may be written by a process we cannot
        see: wait, but only until it has been still for incomplete_zip_seconds, by our
        own watch or by its mtime (which survives a restart of the daemon)."""
        if now - entry.last_change >= self.incomplete_zip_seconds:
            return False
        try:
            age = self.wall_clock() - entry.path.stat().st_mtime
        except OSError:
            return False
        return age < self.incomplete_zip_seconds
