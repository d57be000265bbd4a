"""Named fault points for crash tests, off unless MEDIASYNCD_FAULT names one.

`MEDIASYNCD_FAULT=store.after_fsync` makes the process SIGKILL itself the first time it
reaches that point (`...:3` on the third time), so tests can prove that a crash at every
step of an ingest leaves a consistent store and index. `...:1:stop` stops the process
(SIGSTOP) there instead, so a test can change the world at that exact step and let it go
on with SIGCONT (races made deterministic). With the variable unset a fault point costs
one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get("MEDIASYNCD_FAULT")
    if not wanted:
        return
    target, _, rest = wanted.partition(":")
    if target != name:
        return
    count_text, _, action = rest.partition(":")
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(count_text or "1") and action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif _hits[name] >= int(count_text or "1") and action != "stop":
        os.kill(os.getpid(), signal.SIGKILL)
