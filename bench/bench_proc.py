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

CPU seconds (user + system, the child and its waited-for children) come from the same
rusage: on a machine shared with other work they drift far less than wall time. A step
repeated (`combine`) reports the median, the minimum and every run.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    cpu: float = 0.0  # user + system seconds, the child and its waited-for children

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
            cpu=usage.ru_utime + usage.ru_stime,
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


MEASURES = ("seconds", "cpu", "written", "max_rss")


def combine(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One step measured several times: the first run's details (command, summary, new
    objects), and for each measure the median, the minimum and every run."""
    out = dict(rows[0])
    for key in MEASURES:
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            out[key] = statistics.median(values)
            out[f"{key}_min"] = min(values)
            out[f"{key}_all"] = values
    out["runs"] = len(rows)
    return out


def disk_usage(path: Path) -> dict[str, int]:
    """Apparent bytes (the files' sizes) and allocated bytes (their blocks) under path."""
    apparent = allocated = files = 0
    if path.is_file():
        st = path.stat()
        return {"bytes": st.st_size, "allocated": st.st_blocks * 512, "files": 1}
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                st = os.lstat(Path(root, name))
            except FileNotFoundError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return {"bytes": apparent, "allocated": allocated, "files": files}


def snapshot(state: Path, snap: Path) -> None:
    """A copy of a state dir to restore later: objects hard-linked (they are read-only
    and never rewritten), everything else copied."""
    if snap.exists():
        shutil.rmtree(snap)
    snap.mkdir(parents=True)
    for entry in state.iterdir():
        if entry.name == "objects":
            subprocess.run(["cp", "-al", str(entry), str(snap / "objects")], check=True)  # noqa: S603, S607
        elif entry.is_dir():
            shutil.copytree(entry, snap / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, snap / entry.name)


def restore(snap: Path, state: Path) -> None:
    if state.exists():
        shutil.rmtree(state)
    snapshot(snap, state)
