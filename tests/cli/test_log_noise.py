"""The CLI says each problem once, in words; the structured log is for `-v` (and for the
daemon's journal), not mixed into a command's stderr."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import make_zip, media_bytes, run_mediasyncd


def json_lines(text: str) -> list[dict[str, object]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_a_missing_drop_is_one_line(tmp_path: Path) -> None:
    """`ingest /tmp/nope/alice.zip` with stderr not a terminal: one human line on stderr
    naming the path and the problem (there were three mentions, one a JSON log line)."""
    missing = tmp_path / "nope" / "alice.zip"
    result = run_mediasyncd(["--state-dir", str(tmp_path / "s"), "ingest", str(missing)])
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines == [f"error: {missing}: cannot read: No such file or directory"], lines
    assert json_lines(result.stderr) == []


def test_one_line_per_rejected_member(tmp_path: Path) -> None:
    """A zip with two unsafe members and a good one: exactly two problem lines."""
    drop = make_zip(
        tmp_path / "mixed.zip",
        {
            "../escape.png": media_bytes(1000, 1),
            "/abs.png": media_bytes(1001, 2),
            "fine.png": media_bytes(1002, 3),
        },
    )
    result = run_mediasyncd(["--state-dir", str(tmp_path / "s"), "ingest", str(drop)])
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert all(line.startswith(f"error: {drop} [") for line in lines), lines
    assert json_lines(result.stderr) == []


def test_verbose_gives_the_structured_log(tmp_path: Path) -> None:
    """With -v the structured events are there (JSON, stderr not being a terminal)."""
    missing = tmp_path / "nope" / "alice.zip"
    result = run_mediasyncd(["-v", "--state-dir", str(tmp_path / "s"), "ingest", str(missing)])
    events = {event["event"] for event in json_lines(result.stderr)}
    assert "source.unreadable" in events
