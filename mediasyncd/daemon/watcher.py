"""Watching drop folders with watchdog: inotify where it works, polling where it cannot.

Event handlers only enqueue: each event is reduced to the top-level entry it concerns
(the drop) and handed to a sink; settling and the queue happen elsewhere.

Polling is used when configured, and automatically for folders on a network or FUSE
filesystem (NFS, SMB/CIFS, sshfs, ...), where inotify never sees what another machine
writes. The filesystem is read from /proc/self/mountinfo.

The inotify watch limit: watchdog raises when the folder's own watch cannot be added but
silently skips subfolders it cannot watch. So after starting a recursive inotify watch
the daemon probes whether one more watch can be added; if not, the limit was hit, the
folder falls back to polling and the log names the sysctl to raise.

Deep trees: watchdog (7.1 on Python 3.11) walks a watched tree with the recursive
`os.walk`, inotify and polling alike, so a folder nested about 1,000 deep kills its
reader thread with a RecursionError (the observer thread lives on, looking healthy) and
makes `observer.start()` raise. Such trees are never handed to it: before a recursive
watch starts, the folder is scanned (iteratively) to `limits.max_folder_depth` below each
drop; a folder holding a deeper tree is watched at its top level only, which is reported.
A tree moved in later still kills the reader thread; every thread the observer started is
therefore part of its health, and an unhealthy watch is restarted (and rescanned).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver
from watchdog.utils import BaseThread

from mediasyncd.config import LimitsConfig
from mediasyncd.fs.pathtext import path_text
from mediasyncd.fs.tree import first_too_deep
from mediasyncd.logconfig import get_logger

log = get_logger("mediasyncd.daemon")

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse",
        "sshfs",
    }
)

# Events that only say someone read a file (our own ingest does): not a change.
_READ_ONLY_EVENTS = frozenset({"opened", "closed_no_write"})

SYSCTL_HINT = {
    errno.ENOSPC: "fs.inotify.max_user_watches",
    errno.EMFILE: "fs.inotify.max_user_instances",
}


def _unescape_mount(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out = []
    i = 0
    while i < len(text):
        code = text[i + 1 : i + 4]
        if text[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) for each line of /proc/self/mountinfo."""
    mounts: list[tuple[str, str]] = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-")
        if sep + 1 >= len(fields):
            continue
        mounts.append((_unescape_mount(fields[4]), fields[sep + 1]))
    return mounts


def filesystem_of(path: Path, mounts: list[tuple[str, str]]) -> str | None:
    """The filesystem type of the mount that holds `path` (the longest matching mount
    point; of stacked mounts on one point, the last)."""
    text = str(path)
    best: tuple[int, str] | None = None
    for point, fstype in mounts:
        inside = text == point or text.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), fstype)
    return best[1] if best else None


def is_network_filesystem(fstype: str | None) -> bool:
    if fstype is None:
        return False
    if fstype in NETWORK_FILESYSTEMS:
        return True
    # fuse.sshfs, fuse.rclone, fuse.s3fs, ...; fuseblk (ntfs-3g on a local disk) is local.
    return fstype.startswith("fuse.")


def read_mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[tuple[str, str]]:
    try:
        return parse_mountinfo(mountinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


_libc: ctypes.CDLL | None = None


def inotify_exhausted() -> int | None:
    """errno (ENOSPC, EMFILE) if this user cannot add one more inotify watch, else None."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    fd = _libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        return ctypes.get_errno() or errno.EMFILE
    try:
        # IN_DELETE_SELF on the root folder: a watch that costs nothing and is removed at once.
        wd = _libc.inotify_add_watch(fd, b"/", 0x00000400)
        if wd < 0:
            err = ctypes.get_errno()
            return err if err in SYSCTL_HINT else None
        return None
    finally:
        os.close(fd)


def limit_message(err: int) -> str:
    name = SYSCTL_HINT.get(err, "fs.inotify.max_user_watches")
    current = ""
    with contextlib.suppress(OSError):
        current = Path("/proc/sys", *name.split(".")).read_text().strip()
    now = f" (now {current})" if current else ""
    return (
        f"inotify limit reached: {name}{now}; raise it with `sysctl -w {name}=524288` "
        f"and persist it in /etc/sysctl.d/; polling this folder meanwhile"
    )


def top_level(folder: str, raw: str | bytes) -> Path | None:
    """The top-level entry of `folder` an event path is about (None: the folder itself
    or outside it)."""
    text = os.fsdecode(raw)
    prefix = folder.rstrip("/") + "/"
    if not text.startswith(prefix):
        return None
    first = text[len(prefix) :].split("/", 1)[0]
    return Path(prefix + first) if first else None


class DropEventHandler(FileSystemEventHandler):
    def __init__(self, folder: Path, sink: Callable[[Path], None]):
        super().__init__()
        self.folder = str(folder)
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _READ_ONLY_EVENTS:
            return
        for raw in (event.src_path, event.dest_path):
            if raw:
                drop = top_level(self.folder, raw)
                if drop is not None:
                    self.sink(drop)


@dataclass
class FolderWatch:
    folder: Path
    mode: str  # "inotify" or "poll"
    reason: str
    observer: BaseObserver
    # False: only the folder's own entries are watched (it holds a tree too deep).
    recursive: bool = True
    # Every watchdog thread started for this watch (its inotify reader among them).
    threads: tuple[threading.Thread, ...] = ()

    def healthy(self) -> bool:
        return (
            self.observer.is_alive()
            and all(e.is_alive() for e in self.observer.emitters)
            and all(t.is_alive() for t in self.threads)
        )


class Watcher:
    """One watchdog observer per drop folder, so each can be stopped or switched alone."""

    def __init__(
        self,
        sink: Callable[[Path], None],
        *,
        poll: bool,
        poll_interval: float,
        mounts: Callable[[], list[tuple[str, str]]] = read_mounts,
        probe: Callable[[], int | None] = inotify_exhausted,
        max_depth: int = LimitsConfig().max_folder_depth,
    ):
        self.sink = sink
        self.poll = poll
        self.poll_interval = poll_interval
        self.mounts = mounts
        self.probe = probe
        self.max_depth = max_depth
        self.watches: dict[Path, FolderWatch] = {}

    def choose_mode(self, folder: Path) -> tuple[str, str]:
        if self.poll:
            return "poll", "watch.poll is set"
        fstype = filesystem_of(folder, self.mounts())
        if is_network_filesystem(fstype):
            return "poll", f"{fstype} filesystem: inotify does not see other machines' writes"
        return "inotify", f"{fstype or 'local'} filesystem"

    def watch(self, folder: Path, *, poll_reason: str | None = None) -> FolderWatch:
        """Start watching `folder` (which must exist); `poll_reason` forces polling.
        OSError if the folder cannot be read."""
        self.unwatch(folder)
        if not folder.is_dir():
            raise FileNotFoundError(errno.ENOENT, "not a folder", str(folder))
        next(folder.iterdir(), None)  # unreadable: raise now, not in a watchdog thread
        mode, reason = ("poll", poll_reason) if poll_reason else self.choose_mode(folder)
        recursive = self._recursive_ok(folder)
        if mode == "inotify":
            try:
                observer, threads, recursive = self._start(folder, Observer, recursive)
            except OSError as exc:
                if exc.errno not in SYSCTL_HINT:
                    raise
                mode, reason = "poll", limit_message(exc.errno)
                log.warning("watch.inotify_limit", folder=str(folder), error=reason)
            else:
                err = self.probe()
                if err is None:
                    watch = FolderWatch(folder, mode, reason, observer, recursive, threads)
                    return self._keep(watch)
                _stop(observer)
                mode, reason = "poll", limit_message(err)
                log.warning("watch.inotify_limit", folder=str(folder), error=reason)
        observer, threads, recursive = self._start(
            folder, lambda: PollingObserver(timeout=self.poll_interval), recursive
        )
        return self._keep(FolderWatch(folder, mode, reason, observer, recursive, threads))

    def _recursive_ok(self, folder: Path) -> bool:
        """Whether watchdog may watch `folder` recursively: no tree in it is deeper than
        `max_depth` below its drop (else it is watched at its top level, and told)."""
        deep = first_too_deep(folder, self.max_depth + 1)
        if deep is None:
            return True
        log.warning(
            "watch.too_deep",
            folder=str(folder),
            path=path_text(deep),
            error=f"{path_text(deep)} is nested deeper than limits.max_folder_depth "
            f"({self.max_depth}); watching only the top level of {folder}",
        )
        return False

    def too_deep_folders(self) -> list[Path]:
        """Folders watched at their top level only because they hold a tree too deep."""
        return [w.folder for w in self.watches.values() if not w.recursive]

    def _start(
        self, folder: Path, make: Callable[[], BaseObserver], recursive: bool
    ) -> tuple[BaseObserver, tuple[threading.Thread, ...], bool]:
        before = set(threading.enumerate())
        observer = make()
        observer.daemon = True
        observer.schedule(DropEventHandler(folder, self.sink), str(folder), recursive=recursive)
        try:
            observer.start()
        except RecursionError:
            # A tree deepened between the scan and the start: the top level only.
            _stop(observer)
            if not recursive:
                raise
            log.warning("watch.too_deep", folder=str(folder), error="watchdog ran out of stack")
            return self._start(folder, make, recursive=False)
        except BaseException:
            _stop(observer)
            raise
        threads = tuple(
            t for t in threading.enumerate() if t not in before and isinstance(t, BaseThread)
        )
        return observer, threads, recursive

    def _keep(self, watch: FolderWatch) -> FolderWatch:
        self.watches[watch.folder] = watch
        log.info(
            "watch.started",
            folder=str(watch.folder),
            mode=watch.mode,
            reason=watch.reason,
            recursive=watch.recursive,
        )
        return watch

    def unwatch(self, folder: Path) -> None:
        watch = self.watches.pop(folder, None)
        if watch is not None:
            _stop(watch.observer)

    def inotify_folders(self) -> list[Path]:
        return [w.folder for w in self.watches.values() if w.mode == "inotify"]

    def stop_all(self) -> None:
        for folder in list(self.watches):
            self.unwatch(folder)


def _stop(observer: BaseObserver) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join()
