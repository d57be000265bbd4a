"""Helpers for daemon tests: waiting on a condition with a timeout (never a fixed sleep
as an assertion), and a real `mediasyncd run` child process with its JSON log."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tests.helpers import REPO_ROOT

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the daemon's index from outside, read-only (as `mediasyncd status` does)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def write_config(path: Path, folders: list[Path], **tables: Mapping[str, Any]) -> Path:
    """A config for fast tests: short settle and poll times, plus any overrides."""
    base: dict[str, dict[str, Any]] = {
        "watch": {
            "folders": [str(f) for f in folders],
            "settle_seconds": 0.3,
            "poll_interval_seconds": 0.3,
            "incomplete_zip_seconds": 3.0,
        },
        "store": {"fsync": False},
        "index": {"synchronous": "NORMAL"},
        "daemon": {"reconcile_interval_seconds": 60.0, "scrub_interval_seconds": 3600.0},
    }
    for name, values in tables.items():
        base.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in base.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")
    return path


class DaemonProcess:
    """`python -m mediasyncd --config C --state-dir S run` as a child process."""

    def __init__(self, config: Path, state_dir: Path, log: Path):
        self.config = config
        self.state_dir = state_dir
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def db(self) -> Path:
        return self.state_dir / "index.db"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`mediasyncd --config C --state-dir S ARGS` beside the daemon, as a user runs it."""
        from tests.helpers import run_mediasyncd

        return run_mediasyncd(
            ["--config", str(self.config), "--state-dir", str(self.state_dir), *args]
        )

    def status(self) -> dict[str, Any]:
        """`status --json` beside the daemon (exit 0, no traceback)."""
        done = self.cli("status", "--json")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def start(self, env: Mapping[str, str] | None = None, prefix: list[str] | None = None) -> None:
        child_env = dict(os.environ)
        child_env.pop("MEDIASYNCD_FAULT", None)
        child_env.pop("NOTIFY_SOCKET", None)
        child_env.pop("WATCHDOG_USEC", None)
        child_env.update(env or {})
        command = [
            sys.executable,
            "-m",
            "mediasyncd",
            "--config",
            str(self.config),
            "--state-dir",
            str(self.state_dir),
            "run",
        ]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*(prefix or []), *command],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=REPO_ROOT,
            )

    def wait_started(self, timeout: float = 20.0) -> None:
        """Until the daemon has scanned its folders once (it is watching)."""
        before = len(self.events("reconcile.done"))
        wait_until(
            lambda: len(self.events("reconcile.done")) > before or self.exited(),
            timeout,
            what="the daemon's first reconcile",
        )
        assert not self.exited(), self.log.read_text()[-3000:]

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written right now
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def sources(self) -> dict[str, tuple[str, int]]:
        """source path -> (state, run)."""
        rows = query(self.db, "SELECT path, state, run FROM sources")
        return {str(p): (str(s), int(r)) for p, s, r in rows}

    def ok_count(self) -> int:
        rows = query(self.db, "SELECT COUNT(*) FROM sources WHERE state = 'ok'")
        return int(rows[0][0]) if rows else 0

    def jobs_for(self, path: Path) -> list[tuple[str, str | None]]:
        rows = query(
            self.db, "SELECT state, error FROM jobs WHERE path = ? ORDER BY id", (str(path),)
        )
        return [(str(s), e) for s, e in rows]

    def state_of(self, path: Path) -> str | None:
        found = self.sources().get(str(path))
        return found[0] if found else None
