"""Benchmark 6: hashing throughput, mediasyncd's XXH3-128 path beside `xxhsum -H2`.

Both hash the same files (the unzipped media of the big export) from a warm page cache,
each as its own process: `xxhsum -H2 FILE…` and a Python child that runs
`ObjectStore.hash_stream` (what an ingest uses to hash a member without storing it) over
every file. Alternated `repeat` times; medians compared.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from bench.bench_proc import REPO, run

HASHER = """
import sys
from pathlib import Path
from mediasyncd.store import ObjectStore
store = ObjectStore(Path(sys.argv[1]), fsync=False)
for line in open(sys.argv[2]):
    with open(line.rstrip("\\n"), "rb") as handle:
        store.hash_stream(handle)
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
    theirs: list[float] = []
    for _ in range(repeat):
        theirs.append(run(xxhsum).seconds)
        ours.append(run(python, cwd=REPO).seconds)
    return {
        "files": len(files),
        "bytes": total,
        "mediasyncd_seconds": statistics.median(ours),
        "xxhsum_seconds": statistics.median(theirs),
        "mediasyncd_mb_s": total / statistics.median(ours) / 1e6,
        "xxhsum_mb_s": total / statistics.median(theirs) / 1e6,
        "command_xxhsum": f"xxhsum -H2 <the {len(files)} files>",
        "command_mediasyncd": f"{sys.executable} -c '<ObjectStore.hash_stream loop>' <files>",
    }
