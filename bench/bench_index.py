"""Benchmarks 3 and 5 on an index of many conversations.

3. A privacy-request archive touching a few conversations is dropped onto the index of a
   large export; its ingest (seconds, `rematched_conversations` of its --json summary)
   beside a full `mediasyncd rematch --json` on the same index.
   With `repeat`, the state after the export's ingest is kept (objects hard-linked) and
   restored before each round, so every round drops the archive onto the same index.
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
from bench.bench_proc import combine, mediasyncd, restore, snapshot


def privacy_vs_rematch(
    work: Path, export: Path, privacy: Path, drop: bool, repeat: int = 1
) -> tuple[dict[str, Any], Path]:
    state = work / "state-index"
    snap = work / "state-index-snapshot"
    shutil.rmtree(state, ignore_errors=True)
    first, summary = ingest(state, export, drop)
    if repeat > 1:
        snapshot(state, snap)
    small_rows, full_rows = [], []
    for round_no in range(repeat):
        if round_no:
            restore(snap, state)
        small, small_summary = ingest(state, privacy, drop)
        full = mediasyncd(state, "rematch", "--json", drop_caches=drop)
        small_rows.append(_row(small, small_summary))
        full_rows.append(_row(full, json.loads(full.stdout)))
    shutil.rmtree(snap, ignore_errors=True)
    return {
        "export_bytes": export.stat().st_size,
        "export_ingest": _row(first, summary),
        "privacy": combine(small_rows),
        "rematch": combine(full_rows),
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
        cpu = [r.cpu for r in runs]
        out[name] = {
            "median": statistics.median(seconds),
            "min": min(seconds),
            "max": max(seconds),
            "cpu_median": statistics.median(cpu),
            "cpu_min": min(cpu),
            "runs": repeat,
            "command": runs[0].command,
            "lines": len(runs[0].stdout.splitlines()),
        }
    return out
