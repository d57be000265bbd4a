"""Measuring one child process: wall seconds, peak RSS, bytes written, its output.

Every benchmark step is a real process (the `mediasyncd` CLI, `unzip`, `xxhsum`,
convoviz) started from the one `bench/run_all.py` process, so all of them share the
machine, the page cache policy and the disk. Before each timed step the dirty pages of
earlier steps are flushed (`sync`) and, when the benchmark may (root), the page cache is
dropped, so each step reads its input from the disk and pays only for its own writeback.

Bytes written come from two kernel counters, both per process: `write_bytes` of
/proc/<pid>/io (read after the child exits but before it is reaped, so the zombie still
has it; the child itself, not its children) and `ru_oublock` of the rusage wait4 returns
(512-byte blocks, the child and every child it waited for).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEDIASYNCD = str(REPO / ".venv" / "bin" / "mediasyncd")


@dataclass
class Run:
    cmd: list[str]
    seconds: float
    max_rss: int  # bytes
    write_bytes: int | None  # /proc/<pid>/io of the child alone
    oublock_bytes: int  # rusage: the child and its waited-for children
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)

    @property
    def written(self) -> int:
        """Bytes sent to the disk: the larger of the two counters (a shell baseline's
        writes are its children's, which only rusage sees)."""
        return max(self.write_bytes or 0, self.oublock_bytes)

    @property
    def command(self) -> str:
        return shlex.join(self.cmd)


COMMANDS: list[str] = []  # every command run, in order, for BENCHMARKS.md


def settle(drop_caches: bool) -> None:
    """Flush earlier writes; optionally drop the page cache (root only)."""
    os.sync()
    if drop_caches:
        with contextlib.suppress(OSError):
            Path("/proc/sys/vm/drop_caches").write_text("3\n")


def _io_write_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run(
    cmd: list[str],
    *,
    drop_caches: bool = False,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> Run:
    """Run `cmd` to its end and measure it (see the module docstring)."""
    settle(drop_caches)
    COMMANDS.append(shlex.join(cmd))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)  # noqa: S603
        deadline = None if timeout is None else started + timeout
        while True:
            # Wait without reaping, so /proc/<pid>/io still answers.
            info = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            if info is not None:
                break
            if deadline is not None and time.monotonic() > deadline:
                child.kill()
            time.sleep(0.005)
        seconds = time.monotonic() - started
        written = _io_write_bytes(child.pid)
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Run(
            cmd=cmd,
            seconds=seconds,
            max_rss=usage.ru_maxrss * 1024,
            write_bytes=written,
            oublock_bytes=usage.ru_oublock * 512,
            returncode=child.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if check and result.returncode != 0:
        raise RuntimeError(f"{result.command} exited {result.returncode}: {result.stderr[-3000:]}")
    return result


def mediasyncd(state: Path, *args: str, **kwargs: object) -> Run:
    """`mediasyncd --state-dir STATE ARGS…` as its own process (the installed script)."""
    return run([MEDIASYNCD, "--state-dir", str(state), *args], **kwargs)  # type: ignore[arg-type]


def count_objects(state: Path) -> int:
    objects = state / "objects"
    if not objects.exists():
        return 0
    return sum(len(files) for _root, _dirs, files in os.walk(objects))


def tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
