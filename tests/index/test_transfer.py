"""`mediasyncd migrate --to-index URL`: the local SQLite index copied into PostgreSQL,
resumed after a SIGKILL, verified, and the local copy left as it was."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import pytest

from mediasyncd.index.postgres import open_postgres
from tests.conftest import invoke_cli
from tests.helpers import run_mediasyncd
from tests.support.chatgpt_corpus import (
    build_corpus,
    cli_records,
    write_export,
    write_privacy_archive,
)


@pytest.fixture(scope="module")
def drops(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    corpus = build_corpus(seed=9, n_conversations=30)
    root = tmp_path_factory.mktemp("corpus")
    return [write_export(corpus, root, "B").path, write_privacy_archive(corpus, root).path]


def fingerprint(state: Path) -> dict[str, str]:
    """The SHA-256 of the index and of its write-ahead log (the -shm file is SQLite's
    shared-memory cache of the log, which any reader may update)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(state.glob("index.db*"))
        if not p.name.endswith("-shm")
    }


def test_migrate_resumes_after_a_kill_and_verifies(
    tmp_path: Path, drops: list[Path], pg_url: str
) -> None:
    """A migrate killed after its third batch leaves part of the index copied; the next
    run goes on from there (nothing is copied twice), verifies every table and ends with
    a shared index whose links are the local ones. The local index is never changed; a
    third run finds the work done."""
    state = tmp_path / "state"
    assert invoke_cli(["--state-dir", str(state), "ingest", *map(str, drops)]).code == 0
    local = cli_records(state, "matches")
    assert local
    before = fingerprint(state)
    args = ["--state-dir", str(state), "migrate", "--to-index", pg_url, "--json"]
    # Each small table of this corpus is one batch: the kill lands after the third table.
    killed = run_mediasyncd(args, env={"MEDIASYNCD_FAULT": "migrate.after_batch:3"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    shared = open_postgres(pg_url)
    try:
        partial = shared.scalar("SELECT SUM(copied) FROM migrate_progress WHERE name != '_source'")
        assert partial and int(partial) > 0
    finally:
        shared.close()

    done = run_mediasyncd(args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["index"]
    assert not report["already_done"]
    assert any(t["resumed_after"] for t in report["tables"].values())
    assert report["tables"]["matches"]["rows"] == len(local)
    assert fingerprint(state) == before

    config = tmp_path / "shared.toml"
    config.write_text(f'[index]\nurl = "{pg_url}"\n')
    shared_matches = invoke_cli(["--config", str(config), "matches", "--format", "jsonl"])
    assert [json.loads(line) for line in shared_matches.stdout.splitlines()] == local

    again = run_mediasyncd(args)
    assert again.returncode == 0 and json.loads(again.stdout)["index"]["already_done"]
    assert fingerprint(state) == before


def test_migrate_refuses_a_database_that_holds_another_index(
    tmp_path: Path, drops: list[Path], pg_url: str
) -> None:
    """A database some workers already use is not mixed with a copy: one line, exit 1."""
    config = tmp_path / "shared.toml"
    config.write_text(f'[index]\nurl = "{pg_url}"\n')
    used = invoke_cli(["--config", str(config), "ingest", str(drops[1])])
    assert used.code == 0, used.stderr
    state = tmp_path / "state"
    assert invoke_cli(["--state-dir", str(state), "ingest", str(drops[0])]).code == 0
    refused = invoke_cli(["--state-dir", str(state), "migrate", "--to-index", pg_url])
    assert refused.code == 1
    assert "already holds an index" in refused.stderr and "empty database" in refused.stderr


def test_migrate_refuses_a_password_in_the_url(tmp_path: Path) -> None:
    """A password in the URL is refused before anything is read (exit 2), and says where a
    password goes instead."""
    result = invoke_cli(
        ["--state-dir", str(tmp_path), "migrate", "--to-index", "postgresql://u:secret@h/db"]
    )
    assert result.code == 2
    assert "PGPASSWORD" in result.stderr and "secret" not in result.stderr
