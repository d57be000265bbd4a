"""Fault points: inert unless MEDIASYNCD_FAULT names them, then a real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mediasyncd import faults
from tests.helpers import wait_stopped

SCRIPT = """
from mediasyncd import faults
for i in range(3):
    faults.point("demo.step")
    print("passed", i + 1, flush=True)
"""


def _run(fault: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("MEDIASYNCD_FAULT", None)
    if fault is not None:
        env["MEDIASYNCD_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=False
    )


def test_point_is_inert_without_the_variable() -> None:
    """With MEDIASYNCD_FAULT unset (the normal case) a fault point does nothing."""
    faults.point("store.after_fsync")  # this process survives


def test_point_is_inert_for_other_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the named point fires (the variable is read when the module is imported)."""
    monkeypatch.setattr(faults, "_WANTED", "some.other.point")
    faults.point("store.after_fsync")


@pytest.mark.parametrize(("fault", "survived"), [("demo.step", 0), ("demo.step:2", 1), (None, 3)])
def test_named_point_sigkills_on_the_nth_hit(fault: str | None, survived: int) -> None:
    """`name` kills at the first hit and `name:n` at the n-th, with SIGKILL (no cleanup,
    no atexit: what a power cut or OOM kill looks like to the store)."""
    result = _run(fault)
    assert result.stdout.splitlines() == [f"passed {i + 1}" for i in range(survived)]
    if fault is None:
        assert result.returncode == 0
    else:
        assert result.returncode == -signal.SIGKILL


def test_stop_action_freezes_the_process_until_sigcont() -> None:
    """`name:n:stop` stops the process (SIGSTOP) at the n-th hit, so a test can look at
    what it shows there; after SIGCONT it goes on and does not stop again."""
    env = dict(os.environ)
    env["MEDIASYNCD_FAULT"] = "demo.step:2:stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "passed 1"
    wait_stopped(proc.pid)
    os.kill(proc.pid, signal.SIGCONT)
    rest, _ = proc.communicate(timeout=30)
    assert rest.splitlines() == ["passed 2", "passed 3"]
    assert proc.returncode == 0
