"""The locks that keep writers apart, all flock(2) on files in the state dir (closing
the descriptor releases a lock, so a killed writer never leaves one held):

- `ingest_lock` (`<state>/ingest.lock`): ingests share it, gc takes it alone, so gc
  never removes an object an ingest is about to name (mediasyncd.store.gc);
- `daemon_lock` (`<state>/daemon.lock`): one daemon per state dir;
- `sole_writer`: both, without waiting, for `reindex`, which moves the index aside;
- `source_lock`: one writer per source, below.

One writer per source: two ingests of one path at once (two CLIs, or the daemon and a
CLI) each remove, at their end, the occurrences the other recorded (every run keeps only
its own rows): about 500 of 3,000 remained. So an ingest takes
`<state>/locks/<digest of the source path>` for its whole run; another ingest of the same
path waits until it is free (and then finds it unchanged, or reads it again), whatever
the interleaving. The lock files are never removed: unlinking a flock file while another
process waits on it would let a third take a lock on a new file beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mediasyncd.errors import MediasyncdError
from mediasyncd.store.digest import new_hasher

INGEST_LOCK = "ingest.lock"
DAEMON_LOCK = "daemon.lock"
LOCKS_DIR = "locks"
POLL_SECONDS = 0.1


class Interrupted(Exception):
    """The caller asked to stop while waiting for the lock."""


class GcBusy(MediasyncdError):
    """An ingest holds the lock for longer than gc was willing to wait."""


class AlreadyRunning(MediasyncdError):
    """Another daemon holds this state dir."""


class ReindexRefused(MediasyncdError):
    """Another writer (the daemon, an ingest) holds the index: rebuilding it now would
    move it aside under that writer, whose later writes would go to the old file."""


@contextlib.contextmanager
def ingest_lock(state_dir: Path, *, exclusive: bool, wait: float | None = None) -> Iterator[None]:
    """The lock that keeps gc and ingests apart: ingests share it, gc takes it alone.

    `wait=None` blocks; otherwise GcBusy is raised after `wait` seconds.
    """
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / INGEST_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if wait is None:
            fcntl.flock(fd, mode)
        else:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise GcBusy(
                            f"an ingest is running (it holds {state_dir / INGEST_LOCK}); "
                            "try again when it is done"
                        ) from None
                    time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def daemon_lock(state_dir: Path) -> Iterator[None]:
    """One daemon per state dir: two would ingest the same drops twice."""
    fd = os.open(state_dir / DAEMON_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another mediasyncd daemon is running on {state_dir} (it holds {DAEMON_LOCK})"
            ) from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def sole_writer(state_dir: Path, command: str = "reindex") -> Iterator[None]:
    """Hold the daemon's lock and the ingest lock (for a whole reindex or migrate), or
    refuse, naming `command` in the message."""
    locks = (
        # The daemon holds daemon.lock as long as it runs (`daemon_lock`).
        (
            DAEMON_LOCK,
            f"the daemon is running on {state_dir} (it holds {DAEMON_LOCK}); stop the daemon "
            f"first (systemctl stop mediasyncd), then run {command}",
        ),
        (
            INGEST_LOCK,
            f"an ingest is running on {state_dir} (it holds {INGEST_LOCK}); let it finish, "
            f"or stop the daemon, then run {command}",
        ),
    )
    fds: list[int] = []
    try:
        for name, busy in locks:
            fd = os.open(state_dir / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ReindexRefused(busy) from None
        yield
    finally:
        for fd in fds:
            os.close(fd)


def lock_path(state_dir: Path, source: str) -> Path:
    hasher = new_hasher()
    hasher.update(source.encode("utf-8", "surrogateescape"))
    return state_dir / LOCKS_DIR / hasher.hexdigest()


@contextlib.contextmanager
def source_lock(
    state_dir: Path,
    source: str,
    *,
    on_wait: Callable[[int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """Hold the lock of `source` (the text the index names it by).

    Blocks while another process holds it: `on_wait(pid of the holder, if known)` is
    called once, and `should_stop()` is asked between tries (Interrupted when true)."""
    path = lock_path(state_dir, source)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _acquire(fd, on_wait, should_stop)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _acquire(
    fd: int,
    on_wait: Callable[[int | None], None] | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if not waited:
            waited = True
            if on_wait is not None:
                on_wait(_holder(fd))
        if should_stop is not None and should_stop():
            raise Interrupted
        time.sleep(POLL_SECONDS)


def _holder(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None
