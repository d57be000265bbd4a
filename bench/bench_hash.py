"""Benchmark 6: hashing throughput, mediasyncd's XXH3-128 path beside `xxhsum -H2`.

Both hash the same files (the unzipped media of the big export) from a warm page cache,
each as its own process: `xxhsum -H2 FILE…` and a Python child that runs
`ObjectStore.hash_stream` (what an ingest uses to hash a member without storing it) over
every file. Alternated `repeat` times; medians compared. The target ratio uses the
hashing loop's own time (the child prints it; interpreter start and imports are a fixed
cost a daemon pays once); the whole-process figure is reported beside it.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from bench.bench_proc import REPO, run

HASHER = """
import sys, time
from pathlib import Path
from mediasyncd.store import ObjectStore
store = ObjectStore(Path(sys.argv[1]), fsync=False)
paths = [line.rstrip("\\n") for line in open(sys.argv[2])]
started = time.perf_counter()
for path in paths:
    with open(path, "rb") as handle:
        store.hash_stream(handle)
print(time.perf_counter() - started)
"""


def ensure_xxhsum() -> None:
    """Debian's xxhash package, installed when missing (the benchmark's only setup)."""
    import shutil
    import subprocess

    if shutil.which("xxhsum"):
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607
    subprocess.run(["apt-get", "install", "-y", "-qq", "xxhash"], check=True)  # noqa: S607


def hashing(work: Path, folder: Path, repeat: int) -> dict[str, Any]:
    ensure_xxhsum()
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    total = sum(Path(f).stat().st_size for f in files)
    listing = work / "hash-files.txt"
    listing.write_text("".join(f + "\n" for f in files))
    python = [sys.executable, "-c", HASHER, str(work / "hash-store"), str(listing)]
    xxhsum = ["xxhsum", "-H2", *files]
    run(xxhsum)  # warm the page cache: both measure hashing, not the disk
    ours: list[float] = []
    inside: list[float] = []
    theirs: list[float] = []
    for _ in range(repeat):
        theirs.append(run(xxhsum).seconds)
        child = run(python, cwd=REPO)
        ours.append(child.seconds)
        inside.append(float(child.stdout.strip()))
    return {
        # The hashing loop alone (interpreter start and imports excluded: a fixed ~0.1 s
        # that a long-running daemon pays once) and the whole process.
        "loop_seconds": statistics.median(inside),
        "loop_mb_s": total / statistics.median(inside) / 1e6,
        "files": len(files),
        "bytes": total,
        "mediasyncd_seconds": statistics.median(ours),
        "xxhsum_seconds": statistics.median(theirs),
        "mediasyncd_mb_s": total / statistics.median(ours) / 1e6,
        "xxhsum_mb_s": total / statistics.median(theirs) / 1e6,
        "command_xxhsum": f"xxhsum -H2 <the {len(files)} files>",
        "command_mediasyncd": f"{sys.executable} -c '<ObjectStore.hash_stream loop>' <files>",
    }
