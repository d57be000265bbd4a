"""`mediasyncd status`: JSON with the contract's keys, readable text, works beside a writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mediasyncd.index import open_index
from tests.conftest import CliResult
from tests.engines import BOTH
from tests.helpers import STATUS_JSON_KEYS, media_bytes, run_mediasyncd, write_files

pytestmark = BOTH

Run = Callable[..., CliResult]


def test_status_json_on_a_fresh_state_dir(run_cli: Run, state_dir: Path) -> None:
    """A fresh (empty) index answers with zeros; nested keys have the contract's shape."""
    assert run_cli("rematch").code == 0  # creates the index, ingests nothing
    result = run_cli("status", "--json")
    assert result.code == 0
    data = json.loads(result.stdout)
    assert tuple(data) == (*STATUS_JSON_KEYS, "state_dir")
    assert set(data["references"]) == {"resolved", "unresolved"}
    assert set(data["sources"]) == {"ok", "partial", "failed", "pending"}
    assert {"running", "pid", "since", "queue"} <= set(data["daemon"])
    assert data["state_dir"] == str(state_dir.resolve())


def test_status_text_after_an_ingest(tmp_path: Path, run_cli: Run) -> None:
    """The text form shows the counts a person looks for."""
    drop = write_files(tmp_path / "drop", {"a.png": media_bytes(3000, "a")})
    run_cli("ingest", drop)
    text = run_cli("status").stdout
    assert "sources        1 ok, 0 partial, 0 failed, 0 pending" in text
    assert "daemon         not running" in text
    assert "last ingest" in text and str(drop.absolute()) in text


def test_status_reads_while_a_writer_holds_the_index(tmp_path: Path, state_dir: Path) -> None:
    """A real `mediasyncd status` answers while another process holds a write transaction
    open (WAL): no 'database is locked', even with a short busy timeout."""
    conf = tmp_path / "c.toml"
    conf.write_text("[index]\nbusy_timeout_ms = 300\n")
    writer = open_index(state_dir / "index.db")
    try:
        with writer.write():
            writer.execute("INSERT INTO jobs (path, state, enqueued) VALUES ('/d', 'queued', 'x')")
            result = run_mediasyncd(
                ["--config", str(conf), "--state-dir", str(state_dir), "status", "--json"]
            )
            assert result.returncode == 0, result.stderr
            assert "locked" not in result.stderr
            assert json.loads(result.stdout)["daemon"]["queue"] == 0  # not yet committed
    finally:
        writer.close()


def test_status_text_has_no_none_and_counts_in_words(tmp_path: Path, state_dir: Path) -> None:
    """An image dump without traces: no `gap median None s, p95 None s` (there are no
    gaps to speak of), and one of a thing is singular (`1 image`, `1 user`, `1 media
    file`), not `1 images`."""
    dump = write_files(
        tmp_path / "meal-images", {"alice/IMG_20250131_163000.jpg": media_bytes(4000, "a", "jpeg")}
    )
    base = ["--state-dir", str(state_dir)]
    assert run_mediasyncd([*base, "ingest", str(dump)]).returncode == 0
    result = run_mediasyncd([*base, "status"])
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "None" not in text
    assert "trace pairs    0 for 1 user: 1 image (0.0% matched)\n" in text
    assert "orphans        1 media file no reference points to\n" in text
