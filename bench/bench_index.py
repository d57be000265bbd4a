"""Benchmarks 3 and 5 on an index of many conversations.

3. A privacy-request archive touching a few conversations is dropped onto the index of a
   large export; its ingest (seconds, `rematched_conversations` of its --json summary)
   beside a full `mediasyncd rematch --json` on the same index.
5. `mediasyncd status` and `mediasyncd matches --conversation ID` on that index: the whole
   CLI process (interpreter start included, as a user sees it), median of several runs.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from bench.bench_ingest import _row, ingest
from bench.bench_proc import mediasyncd


def privacy_vs_rematch(
    work: Path, export: Path, privacy: Path, drop: bool
) -> tuple[dict[str, Any], Path]:
    state = work / "state-index"
    shutil.rmtree(state, ignore_errors=True)
    first, summary = ingest(state, export, drop)
    small, small_summary = ingest(state, privacy, drop)
    full = mediasyncd(state, "rematch", "--json", drop_caches=drop)
    full_summary = json.loads(full.stdout)
    return {
        "export_bytes": export.stat().st_size,
        "export_ingest": _row(first, summary),
        "privacy": _row(small, small_summary),
        "rematch": _row(full, full_summary),
    }, state


def latency(state: Path, conversation: str, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, args in (
        ("status", ["status"]),
        ("matches", ["matches", "--conversation", conversation]),
    ):
        mediasyncd(state, *args)  # warm the page cache: the index is read, not the disk
        runs = [mediasyncd(state, *args) for _ in range(repeat)]
        seconds = [r.seconds for r in runs]
        out[name] = {
            "median": statistics.median(seconds),
            "min": min(seconds),
            "max": max(seconds),
            "runs": repeat,
            "command": runs[0].command,
            "lines": len(runs[0].stdout.splitlines()),
        }
    return out
