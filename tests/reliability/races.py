"""Deterministic races: a child mediasyncd stopped (SIGSTOP) at a named fault point
(`MEDIASYNCD_FAULT=point:N:stop`), the world changed while it waits, then SIGCONT.

Every wait is for an observable state (the child is stopped, it printed a line, it
exited), never a fixed sleep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.helpers import REPO_ROOT


class Child:
    """`python -m mediasyncd ARGS` in the background, its output in files."""

    def __init__(self, args: Sequence[str], out_dir: Path, name: str, fault: str | None = None):
        env = dict(os.environ)
        env.pop("MEDIASYNCD_FAULT", None)
        if fault is not None:
            env["MEDIASYNCD_FAULT"] = fault
        self.stdout_path = out_dir / f"{name}.out"
        self.stderr_path = out_dir / f"{name}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mediasyncd", *args],
                stdout=out,
                stderr=err,
                env=env,
                cwd=REPO_ROOT,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def resume(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
