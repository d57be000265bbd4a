"""Running mediasyncd in a child process and measuring what it cost: peak memory as the
child's own kernel high-water mark (VmHWM, not a sampler that could miss a spike) and disk
from the blocks the state dir really holds."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO_ROOT

# Bounds for one hostile drop. Python with mediasyncd imported is ~70 MB; a bomb that got
# through would cost gigabytes.
MAX_RSS_BYTES = 300 << 20
MAX_STATE_DISK_BYTES = 64 << 20


@dataclass(frozen=True)
class ChildRun:
    """What a child mediasyncd did: exit code (negative: killed by that signal), output,
    and its peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    max_rss_bytes: int


# The child runs mediasyncd's __main__ and, at exit, writes its VmHWM (peak resident set
# of its own address space since exec). wait4's ru_maxrss would not do: Linux carries the
# parent's peak across fork and exec into the child's, so under a big pytest process
# every child would seem as large as pytest.
_WRAPPER = """
import atexit, os, runpy, sys
def _report():
    with open("/proc/self/status") as status:
        peak = next(l for l in status if l.startswith("VmHWM:")).split()[1]
    with open(os.environ["MEDIASYNCD_TEST_PEAK_FILE"], "w") as out:
        out.write(peak)
atexit.register(_report)
sys.argv[0] = "mediasyncd"
runpy.run_module("mediasyncd", run_name="__main__", alter_sys=True)
"""


def run_measured(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 300
) -> ChildRun:
    """`python -m mediasyncd ARGS` in a child that reports its own peak memory."""
    child_env = dict(os.environ)
    child_env.pop("MEDIASYNCD_FAULT", None)
    child_env.update(env or {})
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        child_env["MEDIASYNCD_TEST_PEAK_FILE"] = str(peak_file)
        done = subprocess.run(
            [sys.executable, "-c", _WRAPPER, *args],
            capture_output=True,
            text=True,
            env=child_env,
            cwd=REPO_ROOT,
            timeout=timeout,
            check=False,
        )
        # A SIGKILLed child writes no peak; report 0 and let the caller decide.
        peak_kb = int(peak_file.read_text()) if peak_file.exists() else 0
    return ChildRun(done.returncode, done.stdout, done.stderr, peak_kb * 1024)


def peak_rss_of(pid: int) -> int:
    """VmHWM of a running process (a daemon), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def disk_bytes(root: Path) -> int:
    """Blocks really allocated under `root` (sparse holes do not count)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += (Path(folder) / name).lstat().st_blocks * 512
            except FileNotFoundError:
                continue
    return total


def write_limits_config(path: Path, **limits: int) -> Path:
    lines = ["[limits]", *(f"{key} = {value}" for key, value in limits.items())]
    path.write_text("\n".join(lines) + "\n")
    return path
