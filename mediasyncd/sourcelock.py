"""One writer per source: the lock an ingest holds on the path it ingests.

Two ingests of one path at once (two CLIs, or the daemon and a CLI) each remove, at their
end, the occurrences the other recorded (every run keeps only its own rows): about 500 of
3,000 remained. So an ingest takes `<state>/locks/<digest of the source path>` with
flock(2) for its whole run; another ingest of the same path waits until it is free (and
then finds it unchanged, or reads it again), whatever the interleaving. Closing the
descriptor releases the lock, so a killed writer never leaves it held. The lock files are
never removed: unlinking a flock file while another process waits on it would let a
third take a lock on a new file beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mediasyncd.digest import new_hasher

LOCKS_DIR = "locks"
POLL_SECONDS = 0.1


class Interrupted(Exception):
    """The caller asked to stop while waiting for the lock."""


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
