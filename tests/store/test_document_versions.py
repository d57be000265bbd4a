"""gc.keep_document_versions: which old versions of an export's documents gc drops.

Three monthly exports of one account (each the last plus a continued conversation) go
through the real CLI; gc then runs in a child process under each policy.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.store.digest import digest_stream
from tests.conversations.test_documents import continued, conversation, export, ingest
from tests.helpers import run_mediasyncd
from tests.seaweed import Seaweed
from tests.store.conftest import make_s3_store


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    """A state dir after three monthly exports (40 conversations, then one continued
    each month: number 39, then number 38)."""
    first = [conversation(i, 3) for i in range(40)]
    second = [*first[:39], continued(first[39], "Second month.")]
    third = [*second[:38], continued(second[38], "Third month."), second[39]]
    state = tmp_path / "state"
    for number, month in enumerate((first, second, third)):
        drop, _ = export(tmp_path / f"m{number}.zip", month)
        ingest(state, drop)
    return state


def gc(tmp_path: Path, state: Path, keep: str) -> dict[str, Any]:
    conf = tmp_path / "gc.toml"
    conf.write_text(f"[gc]\nkeep_document_versions = {keep}\n")
    args = ["--config", str(conf), "--state-dir", str(state), "gc", "--grace", "0"]
    done = run_mediasyncd([*args, "--json"])
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def files(state: Path, suffix: str) -> int:
    return len(list((state / "objects").rglob(f"*{suffix}")))


def verify(state: Path) -> dict[str, Any]:
    done = run_mediasyncd(["--state-dir", str(state), "verify", "--json"])
    assert done.returncode == 0, done.stdout
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_all_keeps_every_version(tmp_path: Path, ingested: Path) -> None:
    recipes, compressed = files(ingested, ".r"), files(ingested, ".z")
    report = gc(tmp_path, ingested, '"all"')
    assert report["documents_superseded"] == 0 and report["objects_removed"] == 0
    assert (files(ingested, ".r"), files(ingested, ".z")) == (recipes, compressed) == (6, 42)
    assert verify(ingested)["superseded"] == 0


def test_latest_keeps_the_newest_export_and_drops_old_versions(
    tmp_path: Path, ingested: Path
) -> None:
    """The two older exports' documents (conversations.json and chat.html each) go, and
    with them the two old versions of the continued conversations; verify and reindex
    know they went on purpose, and nothing current is lost."""
    report = gc(tmp_path, ingested, '"latest"')
    assert report["documents_superseded"] == 4
    assert files(ingested, ".r") == 2 and files(ingested, ".s") == 4
    assert files(ingested, ".z") == 40  # one version of each conversation
    assert verify(ingested)["superseded"] == 4
    done = run_mediasyncd(["--state-dir", str(ingested), "reindex", "--yes"])
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(ingested / "index.db") as db:
        assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 40
    out = tmp_path / "out"
    assert run_mediasyncd(["--state-dir", str(ingested), "export", str(out)]).returncode == 0
    pages = "".join(p.read_text() for p in out.rglob("*.html"))
    assert "Second month." in pages and "Third month." in pages


def test_a_number_keeps_that_many_exports(tmp_path: Path, ingested: Path) -> None:
    report = gc(tmp_path, ingested, "2")
    assert report["documents_superseded"] == 2
    assert files(ingested, ".r") == 4 and files(ingested, ".z") == 41
    assert verify(ingested)["superseded"] == 2


def test_an_older_export_holding_a_conversation_no_newer_one_holds_is_kept(
    tmp_path: Path,
) -> None:
    """A conversation deleted in ChatGPT is missing from the next export: the export
    that still has it is kept, whatever the policy."""
    state = tmp_path / "state"
    first = [conversation(i, 3) for i in range(10)]
    for number, month in enumerate((first, first[1:])):
        drop, _ = export(tmp_path / f"m{number}.zip", month)
        ingest(state, drop)
    report = gc(tmp_path, state, '"latest"')
    assert report["documents_superseded"] == 0
    assert files(state, ".r") == 4


def test_migrating_to_s3_sends_documents_whole_and_counts_superseded_ones(
    tmp_path: Path, ingested: Path, seaweed: Seaweed, s3_bucket: str, s3_prefix: str
) -> None:
    """A bucket keeps every object plainly: compressed documents and recipes go up as
    their original bytes, and a version gc superseded (only its tombstone is left) is
    counted as superseded, not as missing from the bucket."""
    assert gc(tmp_path, ingested, '"latest"')["documents_superseded"] == 4
    url = f"s3://{s3_bucket}/{s3_prefix}/objects"
    done = run_mediasyncd(
        ["--state-dir", str(ingested), "migrate", "--to-store", url,
         "--endpoint-url", seaweed.endpoint, "--json"]
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)["store"]
    assert report["ok"] and report["missing_in_target"] == 0
    assert report["superseded"] == 4
    bucket = make_s3_store(seaweed, s3_bucket, s3_prefix, ingested)
    for entry in bucket.iterate():
        with bucket.open_location(entry.location) as handle:
            assert digest_stream(handle)[0] == entry.digest
