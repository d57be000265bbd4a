"""Benchmark 8 (issue 14): a chat-heavy export, its next month, and a copy of it.

A heavy chat user's export is mostly conversations and many small files. For each size
(4,000 and 10,000 conversations at the full size), `repeat` rounds, each from a fresh
state dir and each step beside its baseline:

1. `unzip -q` + `sync` of the export, then `mediasyncd ingest` of it (first ingest);
2. the same zip copied byte for byte to another path, ingested: vs the first ingest;
3. next month's export (bench/monthly.py: every old conversation again, 3 % of them
   continued and so moved to the front, 5 % new ones with their media), ingested: vs
   the first ingest.
The state dir's size after the first ingest and after next month's is recorded too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.bench_ingest import _row, ingest, unzip_sync
from bench.bench_proc import combine, count_objects, disk_usage

STEPS = ("unzip_sync", "first", "copy", "next_month")


def _round(work: Path, name: str, export: Path, next_month: Path, drop: bool) -> dict[str, Any]:
    state = work / f"state-{name}"
    unzipped = work / f"unzipped-{name}"
    shutil.rmtree(state, ignore_errors=True)
    base = unzip_sync(export, unzipped, drop)
    shutil.rmtree(unzipped)
    out: dict[str, Any] = {"unzip_sync": _row(base, None)}
    first, summary = ingest(state, export, drop)
    objects = count_objects(state)
    out["first"] = _row(first, summary, objects)
    out["first"]["state"] = disk_usage(state)
    copy = export.with_name("copy-of-" + export.name)
    shutil.copyfile(export, copy)
    try:
        again, summary = ingest(state, copy, drop)
    finally:
        copy.unlink()
    after = count_objects(state)
    out["copy"] = _row(again, summary, after - objects)
    later, summary = ingest(state, next_month, drop)
    out["next_month"] = _row(later, summary, count_objects(state) - after)
    out["next_month"]["state"] = disk_usage(state)
    shutil.rmtree(state)
    return out


def chat_heavy(
    work: Path, name: str, export: Path, next_month: Path, drop: bool, repeat: int
) -> dict[str, Any]:
    rounds = [_round(work, name, export, next_month, drop) for _ in range(repeat)]
    out: dict[str, Any] = {
        "export_bytes": export.stat().st_size,
        "next_month_bytes": next_month.stat().st_size,
    }
    for step in STEPS:
        out[step] = combine([r[step] for r in rounds])
    return out


def ratios(figures: dict[str, Any], step: str, base: str) -> dict[str, float]:
    """step / base: of the medians, of the minima, and of the median CPU seconds."""
    a, b = figures[step], figures[base]
    return {
        "median": a["seconds"] / b["seconds"],
        "min": a["seconds_min"] / b["seconds_min"],
        "cpu": a["cpu"] / max(b["cpu"], 1e-9),
        "each": [x / y for x, y in zip(a["seconds_all"], b["seconds_all"], strict=True)],
    }
