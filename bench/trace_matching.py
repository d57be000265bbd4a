"""Matching 100,000 dumped photos against 1,000,000 traces, through the real index.

Usage (from the repository root; about 1 GB of free space under --workdir):

    .venv/bin/python bench/trace_matching.py                   # 100k photos x 1M traces
    .venv/bin/python bench/trace_matching.py --images 10000 --traces 100000 --users 1000

What it does:
1. in a child process, writes an index (the real schema, via open_index) holding --users
   users, --traces traces and --images dump photos with their occurrence keys; 80 % of
   the photos land 2-90 s after one of their user's traces, 5 % are named by a media
   reference, the rest are at random times (rows are written with SQL: hashing 100,000
   real photos would measure the store, not matching);
2. in this process (so its peak memory is the matcher's own), times:
   - a full `rematch` (every user: load, pair, write the matches) — the headline figure,
   - the same full rematch again (nothing changes: the diff writes nothing),
   - an incremental rematch of one user (what one new drop costs per user it touches),
   - the pairing algorithm alone on one user holding every photo and trace
     (the worst case for the algorithm: 100k x 1M in one window-connected timeline);
3. prints the figures and the peak resident memory as JSON.
Nothing is asserted; the figures are reported (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mediasyncd.config import Config, TracesConfig  # noqa: E402
from mediasyncd.index import open_index  # noqa: E402
from mediasyncd.store.digest import langfuse_media_id  # noqa: E402
from mediasyncd.traces.matcher import TraceMatcher  # noqa: E402
from mediasyncd.traces.pairing import pair_by_time  # noqa: E402

SPAN = 30 * 86400
START = 1_735_689_600.0  # 2025-01-01T00:00:00Z
BATCH = 20_000


def build(path: Path, users: int, traces: int, images: int, seed: int) -> dict[str, Any]:
    """Write the synthetic index; returns what it holds."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    index = open_index(path, synchronous="NORMAL")
    started = time.monotonic()
    per_user_traces = traces // users
    per_user_images = images // users
    media_refs = 0
    with index.write():
        index.execute(
            """INSERT INTO sources (id, path, kind, state, first_seen)
               VALUES (1, '/bench/dump', 'image_dump', 'ok', '2025-01-01')"""
        )
    for u in range(users):
        user = f"user-{u:06d}"
        stamps = sorted(START + rng.random() * SPAN for _ in range(per_user_traces))
        trace_rows = []
        for k, ts in enumerate(stamps):
            trace_rows.append((f"{user}-t{k:05d}", f"{ts:.3f}", ts, user, "meal", "h"))
        photo_rows = []
        ref_rows = []
        for k in range(per_user_images):
            digest = f"{u:06d}{k:05d}".ljust(32, "0")
            sha = rng.randbytes(32)
            roll = rng.random()
            if roll < 0.8:
                ts = rng.choice(stamps) + rng.randint(2, 90)
            elif roll < 0.85:
                anchor = rng.randrange(len(stamps))
                ts = stamps[anchor] + rng.randint(3600, 8 * 3600)
                ref_rows.append((trace_rows[anchor][0], user, langfuse_media_id(sha)))
            else:
                ts = START + rng.random() * SPAN
            photo_rows.append((digest, sha.hex(), f"meal-images/{user}/{k:05d}.jpg", ts, user))
        media_refs += len(ref_rows)
        with index.write():
            index.conn.executemany(
                """INSERT INTO traces (id, timestamp, ts, user_id, name, content_hash)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                trace_rows,
            )
            index.conn.executemany(
                """INSERT INTO refs (subject, trace_id, user_id, kind, key_kind, key)
                   VALUES ('trace', ?, ?, 'langfuse_media', 'langfuse_media', ?)""",
                ref_rows,
            )
            for digest, sha_hex, key, ts, owner in photo_rows:
                index.execute(
                    """INSERT INTO blobs (digest, size, mime, kind, sha256, first_seen)
                       VALUES (?, 1000, 'image/jpeg', 'image', ?, '2025-01-01')""",
                    (digest, sha_hex),
                )
                cursor = index.execute(
                    """INSERT INTO occurrences (source_id, member, name, digest, size)
                       VALUES (1, ?, ?, ?, 1000)""",
                    (key, key.rsplit("/", 1)[-1], digest),
                )
                occurrence = cursor.lastrowid
                index.execute(
                    """INSERT INTO dump_images (occurrence_id, user_id, taken, ts, time_source)
                       VALUES (?, ?, 'x', ?, 'listing')""",
                    (occurrence, owner, ts),
                )
                index.conn.executemany(
                    "INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (occurrence, "user_time", owner, key),
                        (
                            occurrence,
                            "langfuse_media",
                            langfuse_media_id(bytes.fromhex(sha_hex)),
                            None,
                        ),
                    ],
                )
    index.close()
    return {
        "users": users,
        "traces": per_user_traces * users,
        "images": per_user_images * users,
        "media_refs": media_refs,
        "build_seconds": round(time.monotonic() - started, 1),
    }


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: Path, direction: str) -> dict[str, Any]:
    config = Config(traces=TracesConfig(direction=direction))  # type: ignore[arg-type]
    index = open_index(path, synchronous="NORMAL")
    matcher = TraceMatcher(config)
    figures: dict[str, Any] = {"rss_before_mib": round(peak_rss_mib(), 1)}
    started = time.monotonic()
    delta = matcher.rematch(index, None)
    figures["full_rematch_seconds"] = round(time.monotonic() - started, 2)
    figures["matches"] = delta.added
    figures["by_strategy"] = dict(
        index.execute("SELECT strategy, COUNT(*) FROM matches GROUP BY strategy").fetchall()
    )
    figures["peak_rss_after_full_mib"] = round(peak_rss_mib(), 1)
    started = time.monotonic()
    again = matcher.rematch(index, None)
    figures["full_rematch_unchanged_seconds"] = round(time.monotonic() - started, 2)
    figures["unchanged_writes"] = again.added + again.removed
    started = time.monotonic()
    matcher.rematch(index, {"user-000007"})
    figures["one_user_rematch_ms"] = round((time.monotonic() - started) * 1000, 2)
    index.close()
    return figures


def one_timeline(images: int, traces: int, direction: str, seed: int) -> dict[str, Any]:
    """The algorithm alone, everything in one user's timeline."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    trace_ms = sorted(rng.randrange(0, SPAN * 1000) for _ in range(traces))
    image_ms = sorted(rng.choice(trace_ms) + rng.randint(2000, 90_000) for _ in range(images))
    started = time.monotonic()
    pairs = pair_by_time(image_ms, trace_ms, direction, 600_000)  # type: ignore[arg-type]
    return {
        "single_timeline_seconds": round(time.monotonic() - started, 2),
        "single_timeline_pairs": len(pairs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--direction", default="before", choices=["before", "after", "nearest"])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--phase", choices=["all", "build"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "build":
        info = build(args.index, args.users, args.traces, args.images, args.seed)
        print(json.dumps(info))
        return 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        path = Path(tmp) / "index.db"
        child = subprocess.run(  # noqa: S603 - this very script, in build mode
            [
                sys.executable,
                __file__,
                "--phase=build",
                f"--index={path}",
                f"--images={args.images}",
                f"--traces={args.traces}",
                f"--users={args.users}",
                f"--seed={args.seed}",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        report: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        report["direction"] = args.direction
        report.update(measure(path, args.direction))
    for direction in ("before", "nearest"):
        single = one_timeline(args.images, args.traces, direction, args.seed)
        report[f"{direction}_single_timeline_seconds"] = single["single_timeline_seconds"]
    report["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
