"""Benchmark 7: mediasyncd beside convoviz (PyPI) on the same classic (era A) export.

convoviz needs Python 3.12: it gets its own venv (pyenv's 3.12) and runs as
`convoviz --input EXPORT.zip --output DIR --outputs markdown --no-interactive` (markdown
only: its graphs and word clouds are not about media). It writes
`Markdown/<year>/<month>/<title>.md` with a `conversation_id` in the front matter and
copies each media file it resolves to `assets/` beside them, linked as `](assets/NAME)`.
A media file counts as linked to its conversation when a conversation's page links a
copied file whose bytes (XXH3-128) are the export file the generator made for that
conversation. For mediasyncd the same test uses `mediasyncd matches --format jsonl`
(conversation id, digest). The generator's truth file names every export media file with
its conversation; the share is over all of the export's media files.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import xxhash

from bench.bench_proc import Run, mediasyncd, run

VENV = Path("/tmp/convoviz-venv")  # noqa: S108 - a scratch venv, as the issue asks
PYTHON312 = "/root/.pyenv/versions/3.12.1/bin/python"
LINK = re.compile(r"\]\((assets/[^)\s]+)\)")
CONV_ID = re.compile(r'^conversation_id: "?([0-9a-f-]{36})"?', re.MULTILINE)


def ensure_convoviz() -> str:
    exe = VENV / "bin" / "convoviz"
    if not exe.exists():
        subprocess.run([PYTHON312, "-m", "venv", str(VENV)], check=True)  # noqa: S603
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "convoviz"], check=True)  # noqa: S603
    version = subprocess.run(  # noqa: S603
        [str(VENV / "bin" / "pip"), "show", "convoviz"], capture_output=True, text=True, check=True
    ).stdout
    return next(
        (line.split()[1] for line in version.splitlines() if line.startswith("Version")), "?"
    )


def _digest(path: Path) -> str:
    hasher = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def truth_pairs(truth: Path) -> tuple[set[tuple[str, str]], int]:
    """(conversation, digest) pairs the export implies, and its media file count."""
    pairs: set[tuple[str, str]] = set()
    files = 0
    for line in truth.read_text().splitlines():
        row = json.loads(line)
        files += 1
        if row["conversation_id"]:
            pairs.add((row["conversation_id"], row["digest"]))
    return pairs, files


def convoviz_pairs(out: Path) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    cache: dict[Path, str] = {}
    for page in out.rglob("*.md"):
        text = page.read_text(errors="replace")
        found = CONV_ID.search(text)
        if not found:
            continue
        for link in LINK.findall(text):
            target = page.parent / urllib.parse.unquote(link)
            if target.is_file():
                if target not in cache:
                    cache[target] = _digest(target)
                pairs.add((found.group(1), cache[target]))
    return pairs


def convoviz(export: Path, out: Path, *, timeout: float = 3600) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(VENV / "bin" / "convoviz"), "--input", str(export), "--output", str(out)]
    cmd += ["--outputs", "markdown", "--no-interactive"]
    return run(cmd, check=False, timeout=timeout)


def side_by_side(
    work: Path, export: Path, truth: Path, drop: bool, first_ingest: dict[str, Any], state: Path
) -> dict[str, Any]:
    """`first_ingest` is benchmark 1's fresh ingest of this very export (seconds, RSS)."""
    version = ensure_convoviz()
    wanted, files = truth_pairs(truth)
    result = convoviz(export, work / "convoviz-out")
    theirs = convoviz_pairs(work / "convoviz-out") if result.returncode == 0 else set()
    matches = mediasyncd(state, "matches", "--format", "jsonl")
    ours = {
        (r["conversation_id"], r["digest"])
        for r in map(json.loads, matches.stdout.splitlines())
        if r.get("conversation_id")
    }
    digests = {d for _, d in wanted}
    linked_ours = {d for c, d in wanted & ours}
    linked_theirs = {d for c, d in wanted & theirs}
    shutil.rmtree(work / "convoviz-out", ignore_errors=True)
    return {
        "convoviz_version": version,
        "media_files": files,
        "convoviz": {
            "seconds": result.seconds,
            "max_rss": result.max_rss,
            "returncode": result.returncode,
            "error": result.stderr[-600:] if result.returncode else "",
            "linked": len(linked_theirs),
            "wrong_pairs": len({p for p in theirs if p[1] in digests} - wanted),
            "command": result.command,
        },
        "mediasyncd": {
            "seconds": first_ingest["seconds"],
            "max_rss": first_ingest["max_rss"],
            "linked": len(linked_ours),
            "wrong_pairs": len({p for p in ours if p[1] in digests} - wanted),
            "command": first_ingest["command"],
        },
    }


def default_export_check(work: Path, export: Path) -> dict[str, Any]:
    """convoviz on an export in the generator's default mix, where some conversations
    carry only `id` (no `conversation_id`): does it run?"""
    result = convoviz(export, work / "convoviz-default")
    shutil.rmtree(work / "convoviz-default", ignore_errors=True)
    return {
        "returncode": result.returncode,
        "error": (result.stderr or result.stdout)[-400:] if result.returncode else "",
        "seconds": result.seconds,
    }
