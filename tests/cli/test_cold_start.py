"""Cold start (issue 14): a command imports what it needs. `status` reads counts; it
does not import the drop readers, the JSON parsers or the matchers (the registry of kinds
imported them all: about 100 ms of a 190 ms `status` at 50,000 conversations)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import make_zip, media_bytes, run_mediasyncd

READERS = (
    "mediasyncd.conversations.handler",
    "mediasyncd.conversations.parse",
    "mediasyncd.conversations.extract",
    "mediasyncd.conversations.matcher",
    "mediasyncd.traces.parse",
    "mediasyncd.traces.image_dump",
    "mediasyncd.traces.matcher",
    "mediasyncd.sources.container",
    "ijson",
    # The reports read the index only: not the local store, zstandard or OpenSSL.
    "mediasyncd.store.local",
    "zstandard",
    "hashlib",
)


def _imported(state: Path, *args: str) -> set[str]:
    done = run_mediasyncd(["--state-dir", str(state), *args], env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_status_imports_no_reader(tmp_path: Path) -> None:
    state = tmp_path / "state"
    drop = make_zip(tmp_path / "photos.zip", {"a.png": media_bytes(500, "a")})
    assert run_mediasyncd(["--state-dir", str(state), "ingest", str(drop)]).returncode == 0
    imported = _imported(state, "status")
    assert "mediasyncd.status" in imported  # the profile is there at all
    assert not imported & set(READERS), sorted(imported & set(READERS))


def test_an_ingest_without_a_terminal_imports_neither_the_progress_bar_nor_structlog(
    tmp_path: Path,
) -> None:
    """rich draws the bar on a terminal only; a pipe or a log gets lines, without it.
    Without -v the command logs nothing, so structlog (which imports rich and asyncio:
    70-100 ms) stays out; with -v it logs, and imports it."""
    drop = make_zip(tmp_path / "photos.zip", {"a.png": media_bytes(500, "b")})
    imported = _imported(tmp_path / "state", "ingest", str(drop))
    assert "mediasyncd.ingest.pipeline" in imported
    assert not imported & {"rich", "rich.progress", "structlog", "asyncio"}
    again = make_zip(tmp_path / "more.zip", {"b.png": media_bytes(500, "c")})
    logged = _imported(tmp_path / "state", "-v", "ingest", str(again))
    assert "structlog" in logged
