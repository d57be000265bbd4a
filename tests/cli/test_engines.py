"""The commands on either index engine, as a user runs them: real `mediasyncd` child
processes, the same answers from SQLite and PostgreSQL (tests/engines.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.engines import BOTH
from tests.helpers import run_mediasyncd
from tests.support.chatgpt_corpus import build_corpus, write_export, write_privacy_archive

pytestmark = BOTH


@pytest.fixture(scope="module")
def drops(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    corpus = build_corpus(seed=13, n_conversations=24)
    root = tmp_path_factory.mktemp("corpus")
    return [write_export(corpus, root, "C").path, write_privacy_archive(corpus, root).path]


def cli(state: Path, *args: str) -> Any:
    """Run `mediasyncd --state-dir STATE ARGS` (the engine's config comes from the
    environment) and return its JSON output, or the lines of jsonl output."""
    done = run_mediasyncd(["--state-dir", str(state), *args])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if "--format" in args:
        return sorted(done.stdout.splitlines())
    return json.loads(done.stdout)


def test_ingest_status_matches_rematch_reindex(
    tmp_path: Path, drops: list[Path], index_url: str
) -> None:
    """Ingest, then status, matches and unresolved; a full rematch and a rebuild from the
    store change no link and no unresolved reference."""
    state = tmp_path / "state"
    summary = cli(state, "ingest", "--json", *map(str, drops))
    assert [s["state"] for s in summary["sources"]] == ["ok", "ok"]
    status = cli(state, "status", "--json")
    assert status["sources"]["ok"] == 2 and status["conversations"] == 24
    assert status["matches"] and sum(status["matches"].values()) > 0
    if index_url:
        assert status["daemon"]["workers"] == []
    matches = cli(state, "matches", "--format", "jsonl")
    unresolved = cli(state, "unresolved", "--format", "jsonl")
    assert len(matches) == sum(status["matches"].values())

    rematch = cli(state, "rematch", "--json")
    assert rematch["matches_added"] == rematch["matches_removed"] == 0
    assert cli(state, "matches", "--format", "jsonl") == matches

    rebuilt = cli(state, "reindex", "--yes", "--json")
    assert rebuilt["sources"] == 2 and rebuilt["missing_objects"] == []
    assert rebuilt["previous_index"]
    assert cli(state, "matches", "--format", "jsonl") == matches
    assert cli(state, "unresolved", "--format", "jsonl") == unresolved
    again = cli(state, "ingest", "--json", *map(str, drops))
    assert all(s.get("unchanged") for s in again["sources"])


def test_status_and_matches_need_no_state_dir_with_a_shared_index(
    tmp_path: Path, drops: list[Path], index_url: str
) -> None:
    """With PostgreSQL the index is not in the state dir: a machine that never ingested
    reads it (its state dir is not even made). With SQLite there is nothing to read there."""
    cli(tmp_path / "state", "ingest", "--json", str(drops[0]))
    elsewhere = tmp_path / "other-machine"
    done = run_mediasyncd(["--state-dir", str(elsewhere), "status", "--json"])
    if index_url:
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["sources"]["ok"] == 1
    else:
        assert done.returncode == 2 and "nothing has been ingested" in done.stderr
    assert not elsewhere.exists()
