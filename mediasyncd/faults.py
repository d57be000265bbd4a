"""Named fault points for crash tests, off unless MEDIASYNCD_FAULT names one.

`MEDIASYNCD_FAULT=store.after_fsync` makes the process SIGKILL itself the first time it
reaches that point (`...:3` on the third time), so tests can prove that a crash at every
step of an ingest leaves a consistent store and index. `...:1:stop` sends SIGSTOP
instead, freezing the process at that point so a test can look at what it shows (then
SIGCONT lets it go on). With the variable unset a fault point costs one comparison.
"""

from __future__ import annotations

import os
import signal
import threading

_hits: dict[str, int] = {}
# Read once: a process is started with its fault or without one, and a lookup in
# os.environ at every point cost 0.13 s of a 15,000-member ingest (three points each).
_WANTED = os.environ.get("MEDIASYNCD_FAULT")


def point(name: str) -> None:
    wanted = _WANTED
    if not wanted:
        return
    target, _, rest = wanted.partition(":")
    if target != name:
        return
    count_text, _, action = rest.partition(":")
    hits = _hits[name] = _hits.get(name, 0) + 1
    due = int(count_text or "1")
    if action == "stop":
        if hits == due:
            # Sent to this thread, not the process: a process-directed SIGSTOP may be taken
            # by another thread while this one runs on past the point for a moment.
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
    elif hits >= due:
        os.kill(os.getpid(), signal.SIGKILL)
