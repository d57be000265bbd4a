"""Benchmarks 1 and 2: a full ingest beside `unzip` + `sync`, then what re-dropping costs.

1. `mediasyncd ingest EXPORT.zip` into a fresh state dir, beside `unzip -q EXPORT.zip -d
   DIR && sync` of the same zip (the bytes made durable, nothing else). The ingest fsyncs
   every object and commits the index durably itself, so it is timed alone.
2. On that state dir: the same zip again at the same path (unchanged), a copy of it at
   another path, and a newer export sharing 95 % of its media; each beside the first
   ingest, in seconds and in bytes written (and objects created).
With `repeat`, the whole sequence runs that many times from a fresh state dir, each step
side by side with its baseline, and every figure is the median (minima and each run are
kept). Also the size sweep for the plot: smaller exports of the same shape, each ingested into
a fresh state dir beside its own `unzip` + `sync`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.bench_proc import Run, combine, count_objects, mediasyncd, run


def ingest(state: Path, path: Path, drop: bool) -> tuple[Run, dict[str, Any]]:
    result = mediasyncd(state, "ingest", "--json", str(path), drop_caches=drop, check=False)
    if result.returncode not in (0, 1, 3):  # ok, some drop failed, some drop partial
        raise RuntimeError(f"{result.command} exited {result.returncode}: {result.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(result.stdout)
    return result, summary


def unzip_sync(zip_path: Path, dest: Path, drop: bool) -> Run:
    if dest.exists():
        shutil.rmtree(dest)
    return run(["sh", "-c", f"unzip -q '{zip_path}' -d '{dest}' && sync"], drop_caches=drop)


def _row(result: Run, summary: dict[str, Any] | None, objects: int | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seconds": result.seconds,
        "cpu": result.cpu,
        "written": result.written,
        "write_bytes": result.write_bytes,
        "max_rss": result.max_rss,
        "command": result.command,
    }
    if summary is not None:
        row["summary"] = {k: v for k, v in summary.items() if k != "sources"}
    if objects is not None:
        row["new_objects"] = objects
    return row


def full_and_reingest(
    work: Path, export: Path, newer: Path, drop: bool, repeat: int = 1
) -> tuple[dict[str, Any], Path]:
    """Benchmarks 1 and 2; returns the figures and the unzipped folder (for hashing)."""
    rounds = [_full_and_reingest(work, export, newer, drop) for _ in range(repeat)]
    out = dict(rounds[-1][0])
    for key in ("unzip_sync", "first", "same_path", "copy", "newer"):
        out[key] = combine([r[0][key] for r in rounds])
    return out, rounds[-1][1]


def _full_and_reingest(
    work: Path, export: Path, newer: Path, drop: bool
) -> tuple[dict[str, Any], Path]:
    state = work / "state-big"
    shutil.rmtree(state, ignore_errors=True)
    unzipped = work / "unzipped-big"
    base = unzip_sync(export, unzipped, drop)
    first, summary = ingest(state, export, drop)
    objects = count_objects(state)
    out: dict[str, Any] = {
        "export_bytes": export.stat().st_size,
        "unzip_sync": _row(base, None),
        "first": _row(first, summary, objects),
    }
    again, summary = ingest(state, export, drop)
    after = count_objects(state)
    out["same_path"] = _row(again, summary, after - objects)
    copy = export.with_name("copy-of-" + export.name)
    shutil.copyfile(export, copy)
    objects = after
    again, summary = ingest(state, copy, drop)
    after = count_objects(state)
    out["copy"] = _row(again, summary, after - objects)
    copy.unlink()
    objects = after
    again, summary = ingest(state, newer, drop)
    after = count_objects(state)
    out["newer"] = _row(again, summary, after - objects)
    out["state"] = str(state)
    return out, unzipped


def sweep_point(work: Path, export: Path, drop: bool) -> dict[str, Any]:
    """One point of the size sweep: ingest and unzip+sync of `export`."""
    state = work / f"state-sweep-{export.stem}"
    shutil.rmtree(state, ignore_errors=True)
    unzipped = work / f"unzipped-sweep-{export.stem}"
    base = unzip_sync(export, unzipped, drop)
    shutil.rmtree(unzipped)
    first, summary = ingest(state, export, drop)
    shutil.rmtree(state)
    return {
        "export_bytes": export.stat().st_size,
        "unzip_sync": _row(base, None),
        "ingest": _row(first, summary),
    }
