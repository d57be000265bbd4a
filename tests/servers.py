"""When a real server a test needs (PostgreSQL, SeaweedFS) cannot be had.

On a developer's machine without the binary the test is skipped, with the reason. In CI
(`.ci/run` exports MEDIASYNCD_REQUIRE_SERVERS=1) the servers are part of the setup, so
their absence fails the test instead of silently skipping what the suite exists to run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from typing import Final, NoReturn

import pytest

REQUIRE_ENV: Final = "MEDIASYNCD_REQUIRE_SERVERS"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it when the servers are required."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set: the real servers must run)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Signal a child by its PID, SIGKILL it after `timeout`, and reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
