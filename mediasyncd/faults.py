"""Named fault points for crash tests, off unless MEDIASYNCD_FAULT names one.

`MEDIASYNCD_FAULT=store.after_fsync` makes the process SIGKILL itself the first time it
reaches that point (`...:3` on the third time), so tests can prove that a crash at every
step of an ingest leaves a consistent store and index. With the variable unset a fault
point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get("MEDIASYNCD_FAULT")
    if not wanted:
        return
    target, _, count_text = wanted.partition(":")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count_text or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
