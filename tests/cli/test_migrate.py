"""`mediasyncd migrate --to-store URL --to-index URL`: one command moves a one-machine
installation onto SeaweedFS and PostgreSQL; the installation then runs on them with the
same links, and the local store and index are left as they were."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import invoke_cli
from tests.helpers import run_mediasyncd, tree_snapshot
from tests.index.test_transfer import fingerprint
from tests.seaweed import Seaweed
from tests.support.chatgpt_corpus import build_corpus, write_export, write_privacy_archive


def test_store_and_index_move_in_one_command(
    tmp_path: Path, pg_url: str, seaweed: Seaweed, s3_bucket: str, s3_prefix: str
) -> None:
    corpus = build_corpus(seed=11, n_conversations=12)
    drops = [
        write_export(corpus, tmp_path / "drops", "B").path,
        write_privacy_archive(corpus, tmp_path / "drops").path,
    ]
    state = tmp_path / "state"
    assert invoke_cli(["--state-dir", str(state), "ingest", *map(str, drops)]).code == 0
    local_links = invoke_cli(["--state-dir", str(state), "matches", "--format", "jsonl"]).stdout
    assert local_links
    objects_before, index_before = tree_snapshot(state / "objects"), fingerprint(state)
    # The export's documents are kept compressed and as a recipe locally; the bucket gets
    # each as its original bytes (verify below re-hashes every one by its name).
    forms = {path.suffix for path in (state / "objects").rglob("*") if path.is_file()}
    assert {".z", ".r"} <= forms
    bucket = f"s3://{s3_bucket}/{s3_prefix}/objects"
    moved = run_mediasyncd(
        ["--state-dir", str(state), "migrate", "--to-store", bucket, "--endpoint-url",
         seaweed.endpoint, "--to-index", pg_url, "--json"]
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    assert report["store"]["ok"] and report["store"]["copied"] == report["store"]["total"]
    assert report["index"]["tables"]["matches"]["rows"] == len(local_links.splitlines())
    assert tree_snapshot(state / "objects") == objects_before
    assert fingerprint(state) == index_before

    config = tmp_path / "scaled.toml"
    config.write_text(
        f'[store]\nurl = "{bucket}"\nendpoint_url = "{seaweed.endpoint}"\n'
        f'[index]\nurl = "{pg_url}"\n'
    )
    elsewhere = ["--config", str(config), "--state-dir", str(tmp_path / "other-machine")]
    assert invoke_cli([*elsewhere, "matches", "--format", "jsonl"]).stdout == local_links
    verified = run_mediasyncd([*elsewhere, "verify", "--json"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["checked"] == report["store"]["total"]


def test_migrate_says_what_it_needs(tmp_path: Path) -> None:
    """Nothing to copy, or an endpoint without a store: a usage error (exit 2)."""
    state = ["--state-dir", str(tmp_path / "state")]
    nothing = invoke_cli([*state, "migrate"])
    assert nothing.code == 2 and "--to-store URL and/or --to-index URL" in nothing.stderr
    stray = invoke_cli([*state, "migrate", "--endpoint-url", "http://127.0.0.1:1"])
    assert stray.code == 2 and "--endpoint-url goes with --to-store" in stray.stderr
