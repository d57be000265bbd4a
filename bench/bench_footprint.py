"""Benchmark 9 (issue 18): what a year of monthly exports costs on disk.

A text-heavy account (fresh prose, bench/prose.py) exported once, then every month for a
year (bench/monthly.py: each export the previous one plus 5 % new conversations, 3 % of
the old ones continued). All thirteen are ingested in order into one state dir; after
each, measured beside that month's zip:

- the state dir (apparent bytes, allocated bytes, files), and its growth that month;
- where the bytes are: objects by what they hold (media, conversations.json documents,
  chat.html, source manifests, other documents; classified by the index's occurrences,
  sized by the object files themselves), index.db and its WAL, and, inside index.db,
  the pages of each table and index (SQLite's `dbstat`) and the bytes of
  `messages.text` itself;
- the ingest's seconds and CPU seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from bench.bench_ingest import _row, ingest
from bench.bench_proc import disk_usage

FORMS = (".z", ".r")
MANIFEST_NAME = "manifest.json"  # member `.mediasyncd/manifest.json` (mediasyncd.manifest)


def _kind(role: str, names: set[str]) -> str:
    if role == "media":
        return "media"
    if "conversations.json" in names or any(
        n.startswith("conversations-") and n.endswith(".json") for n in names
    ):
        return "conversations"
    if "chat.html" in names:
        return "chat.html"
    if role == "other" and MANIFEST_NAME in names:
        return "manifests"
    return "other documents"


def objects_by_kind(state: Path, index: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Each object the index knows, classified by its occurrences and sized by its file
    (so a compressed or packed store reports what it really holds). Bytes under objects/
    that no known object file accounts for are reported as `unattributed`."""
    rows = index.execute(
        """SELECT b.digest, COALESCE(MIN(o.role), 'other'), GROUP_CONCAT(DISTINCT o.name)
           FROM blobs b LEFT JOIN occurrences o ON o.digest = b.digest GROUP BY b.digest"""
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    attributed = 0
    for digest, role, names in rows:
        kind = _kind(role, set((names or "").split(",")))
        if role == "other" and not names and kind == "other documents":
            kind = "conversations"  # one conversation's own object (no occurrence names it)
        path = state / "objects" / digest[:2] / digest[2:]
        # Kept plainly, compressed (.z) or as a recipe (.r): mediasyncd.store.documents.
        found = [p for p in (path, *(path.with_name(path.name + f) for f in FORMS)) if p.exists()]
        if not found:
            continue
        st = found[0].stat()
        entry = out.setdefault(kind, {"objects": 0, "bytes": 0, "allocated": 0})
        entry["objects"] += 1
        entry["bytes"] += st.st_size
        entry["allocated"] += st.st_blocks * 512
        attributed += st.st_size
    total = disk_usage(state / "objects")
    out["unattributed"] = {
        "objects": 0,
        "bytes": total["bytes"] - attributed,
        "allocated": 0,
    }
    return out


def index_pages(index: sqlite3.Connection) -> dict[str, Any]:
    """Bytes of each table and index of index.db (dbstat), and of messages.text."""
    tables = {
        str(name): int(size)
        for name, size in index.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        )
    }
    columns = {str(row[1]) for row in index.execute("PRAGMA table_info(messages)")}
    # Since 0.9 the text is read from each conversation's document, not the index.
    text_sql = "SUM(LENGTH(CAST(text AS BLOB)))" if "text" in columns else "0"
    text = index.execute(f"SELECT COALESCE({text_sql}, 0), COUNT(*) FROM messages").fetchone()
    return {"tables": tables, "messages_text_bytes": int(text[0]), "messages": int(text[1])}


def breakdown(state: Path) -> dict[str, Any]:
    """Where the state dir's bytes are (file sizes taken before the index is opened)."""
    files = {
        name: disk_usage(state / name)["bytes"]
        for name in ("index.db", "index.db-wal", "index.db-shm")
        if (state / name).exists()
    }
    whole = disk_usage(state)
    objects = disk_usage(state / "objects")
    other = whole["bytes"] - objects["bytes"] - sum(files.values())
    out: dict[str, Any] = {"state": whole, "objects": objects, "files": files, "other": other}
    uri = f"file:{state / 'index.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as index:
        out["objects_by_kind"] = objects_by_kind(state, index)
        out["index"] = index_pages(index)
    return out


def footprint(work: Path, exports: list[Path], drop: bool) -> dict[str, Any]:
    """Ingest each export in order into one state dir, measuring after each."""
    state = work / "state-footprint"
    shutil.rmtree(state, ignore_errors=True)
    months: list[dict[str, Any]] = []
    before = 0
    for number, export in enumerate(exports):
        result, summary = ingest(state, export, drop)
        os.sync()
        figures = breakdown(state)
        size = figures["state"]["bytes"]
        months.append(
            {
                "month": number,
                "zip_bytes": export.stat().st_size,
                "state_bytes": size,
                "growth_bytes": size - before,
                "ingest": _row(result, summary),
                "breakdown": figures,
            }
        )
        before = size
    return {"state": str(state), "months": months}
