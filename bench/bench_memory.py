"""Benchmark 4: peak RSS of `mediasyncd ingest` on an export with a very large
conversations.json (its chat.html carries the same JSON again), from wait4's rusage."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.bench_ingest import _row, ingest


def peak_rss(work: Path, export: Path, json_bytes: int, drop: bool) -> dict[str, Any]:
    state = work / "state-json"
    shutil.rmtree(state, ignore_errors=True)
    result, summary = ingest(state, export, drop)
    shutil.rmtree(state)
    row = _row(result, summary)
    row["json_bytes"] = json_bytes
    row["export_bytes"] = export.stat().st_size
    return row
