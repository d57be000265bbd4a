"""Inputs that ended in a Python traceback, through the real CLI: each is now one line
naming the file and the member, its drop partial or failed, and the other paths of the
same command still ingested."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from tests.helpers import media_bytes, run_mediasyncd, write_files, zip_bytes


def damaged_deflate_privacy_archive(path: Path) -> Path:
    """A privacy archive whose nested Files__ zip is deflated (so it is spooled) with a
    damaged stream: stored deflate blocks whose length check (NLEN) is broken, which
    zlib reports as "invalid stored block lengths" (what atheris found)."""
    inner = zip_bytes({"file-Inner0001-photo.png": media_bytes(3000, "inner")})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("Files__user-abc123.zip"),
            inner,
            compress_type=zipfile.ZIP_DEFLATED,
            compresslevel=0,
        )
        archive.writestr("User Online Activity/note.png", media_bytes(900, "note"))
    data = bytearray(buffer.getvalue())
    name_length, extra_length = struct.unpack_from("<HH", data, 26)
    start = 30 + name_length + extra_length
    data[start + 3] ^= 0xFF  # NLEN of the first stored block no longer matches LEN
    path.write_bytes(bytes(data))
    return path


def observations_true_trace(path: Path) -> Path:
    trace = {
        "id": "trace-obs-true",
        "timestamp": "2025-01-31T12:00:00Z",
        "userId": "user-1",
        "name": "analysis",
        "observations": True,
    }
    path.write_text(json.dumps([trace]))
    return path


def _ingest(state: Path, *paths: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = run_mediasyncd(["--state-dir", str(state), "ingest", "--json", *map(str, paths)])
    assert "Traceback" not in done.stderr, done.stderr
    return done, json.loads(done.stdout)


def test_damaged_deflate_in_a_nested_zip_is_a_clean_error_and_the_rest_lands(
    tmp_path: Path,
) -> None:
    """zlib.error escaped the container walker: the source stayed pending and the next
    path of the command was never read. Now: the nested zip is named, the rest of the
    archive and the next path land."""
    archive = damaged_deflate_privacy_archive(tmp_path / "privacy.zip")
    good = write_files(tmp_path / "good", {"a.png": media_bytes(700, "good-a")})
    done, summary = _ingest(tmp_path / "state", archive, good)
    assert done.returncode == 3, done.stderr
    states = [(s["path"], s["state"]) for s in summary["sources"]]
    assert states == [(str(archive), "partial"), (str(good), "ok")]
    (problem,) = summary["sources"][0]["problems"]
    assert problem["member"] == "Files__user-abc123.zip"
    assert "invalid stored block lengths" in problem["error"]
    human = run_mediasyncd(["--state-dir", str(tmp_path / "state2"), "ingest", str(archive)])
    line = f"error: {archive} [Files__user-abc123.zip]: cannot read nested zip:"
    assert line in human.stderr and "Traceback" not in human.stderr


def test_trace_with_observations_true_is_a_clean_problem(tmp_path: Path) -> None:
    """`"observations": true` raised TypeError: 'bool' object is not iterable. Now the
    trace is stored and the odd field is the drop's one problem."""
    traces = observations_true_trace(tmp_path / "traces.json")
    good = write_files(tmp_path / "good", {"b.png": media_bytes(700, "good-b")})
    done, summary = _ingest(tmp_path / "state", traces, good)
    assert done.returncode == 3, done.stderr
    assert [s["state"] for s in summary["sources"]] == ["partial", "ok"]
    (problem,) = summary["sources"][0]["problems"]
    assert problem["member"] == "traces.json"
    assert "'observations' is bool, not a list" in problem["error"]
    status = run_mediasyncd(["--state-dir", str(tmp_path / "state"), "status", "--json"])
    assert json.loads(status.stdout)["traces"] == 1
