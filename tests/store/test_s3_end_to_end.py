"""Every command against the S3 store: the chat corpus ingested by the real CLI (child
processes) into a SeaweedFS bucket, with the local SQLite index, then matches,
unresolved, status, verify, gc, export, rematch and reindex (`run` is in
tests/s3/test_watch_daemon.py); the links equal those of a run on the
local store, and the ground truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.store.digest import digest_bytes
from tests.helpers import media_bytes, run_mediasyncd
from tests.seaweed import Seaweed
from tests.store.conftest import make_s3_store, place_of
from tests.support.chatgpt_corpus import (
    build_corpus,
    compare,
    expected,
    write_export,
    write_privacy_archive,
)


def cli(config: Path, state: Path, *args: str) -> tuple[int, str, str]:
    done = run_mediasyncd(["--config", str(config), "--state-dir", str(state), *args])
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def records(config: Path, state: Path, command: str) -> list[dict[str, Any]]:
    code, out, err = cli(config, state, command, "--format", "jsonl")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def tree_digests(root: Path) -> dict[str, str]:
    """Every exported file (but the pages, which say when they were written) by content."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix not in (".html", ".md", ".json"):
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.mark.slow
def test_every_command_works_on_the_s3_store(
    seaweed: Seaweed, s3_bucket: str, s3_prefix: str, tmp_path: Path
) -> None:
    corpus = build_corpus(seed=2026, n_conversations=16)
    drops = tmp_path / "drops"
    written = [
        write_export(corpus, drops, "A"),
        write_export(corpus, drops, "C", zipped=False, shard_size=6),
        write_privacy_archive(corpus, drops),
    ]
    truth = expected(written)
    url = f"s3://{s3_bucket}/{s3_prefix}/objects"
    local_config = tmp_path / "local.toml"
    local_config.write_text("[daemon]\ngc_grace_seconds = 0.0\n")
    s3_config = tmp_path / "s3.toml"
    s3_config.write_text(
        f'[store]\nurl = "{url}"\nendpoint_url = "{seaweed.endpoint}"\n'
        "[daemon]\ngc_grace_seconds = 0.0\n"
    )
    local, remote = tmp_path / "local-state", tmp_path / "s3-state"
    paths = [str(d.path) for d in written]
    for config, state in ((local_config, local), (s3_config, remote)):
        code, out, err = cli(config, state, "ingest", "--json", *paths)
        assert code == 0, err
        assert json.loads(out)["failures"] == []

    # The same links and the same unresolved references, which are the truth.
    for command in ("matches", "unresolved"):
        assert records(s3_config, remote, command) == records(local_config, local, command)
    result = compare(
        truth, records(s3_config, remote, "matches"), records(s3_config, remote, "unresolved")
    )
    assert result.ok, result.describe()
    assert not (remote / "objects").exists(), "the S3 run wrote objects locally"
    store = make_s3_store(seaweed, s3_bucket, s3_prefix, remote)
    status = {}
    for config, state in ((local_config, local), (s3_config, remote)):
        code, out, _ = cli(config, state, "status", "--json")
        status[state] = json.loads(out)
    assert (status[remote]["blobs"], status[remote]["bytes"]) == (
        status[local]["blobs"],
        status[local]["bytes"],
    )
    objects = sum(1 for entry in store.iterate() if entry.digest is not None)
    assert objects == status[remote]["blobs"]

    # verify re-hashes every object; a damaged one is found and set aside.
    code, out, _ = cli(s3_config, remote, "verify", "--json")
    assert code == 0 and json.loads(out)["checked"] == objects
    victim = next(entry for entry in store.iterate() if entry.size > 100)
    assert victim.digest is not None
    store.client.put_object(
        Bucket=s3_bucket, Key=store.key_of(victim.digest), Body=b"\0" * victim.size
    )
    code, out, _ = cli(s3_config, remote, "verify", "--json")
    report = json.loads(out)
    assert code == 1 and [p["kind"] for p in report["problems"]] == ["damaged"]
    assert report["problems"][0]["quarantined_to"].startswith(f"s3://{s3_bucket}/{s3_prefix}/")
    assert not store.has(victim.digest)
    # A re-drop repairs it (verify marked its sources to be read again).
    code, _, err = cli(s3_config, remote, "ingest", *paths)
    assert code == 0, err
    assert store.has(victim.digest)
    code, out, _ = cli(s3_config, remote, "verify", "--json")
    assert code == 0, out

    # gc removes what nothing references (the stray object, and the manifests the
    # re-drop replaced), and nothing the index names.
    stray = media_bytes(777, "unreferenced")
    store.client.put_object(
        Bucket=s3_bucket, Key=store.base + place_of(digest_bytes(stray)), Body=stray
    )
    code, out, _ = cli(s3_config, remote, "gc", "--json")
    removed = json.loads(out)["removed"]
    assert code == 0 and digest_bytes(stray) in removed
    assert not store.has(digest_bytes(stray))
    code, out, _ = cli(s3_config, remote, "verify", "--json")
    left = sum(1 for entry in store.iterate() if entry.digest is not None)
    assert code == 0 and json.loads(out)["checked"] == left
    code, out, _ = cli(s3_config, remote, "status", "--json")
    assert json.loads(out)["blobs"] == left

    # export copies from the bucket what the local store would have cloned.
    for config, state in ((local_config, local), (s3_config, remote)):
        code, _, err = cli(config, state, "export", str(tmp_path / f"export-{state.name}"))
        assert code == 0, err
    exported = tree_digests(tmp_path / "export-s3-state")
    assert exported and exported == tree_digests(tmp_path / "export-local-state")

    # A full rematch reads the documents from the bucket and finds the same links.
    before = records(s3_config, remote, "matches")
    code, _, err = cli(s3_config, remote, "rematch")
    assert code == 0, err
    assert records(s3_config, remote, "matches") == before

    # reindex rebuilds the local index from the manifests in the bucket.
    code, out, err = cli(s3_config, remote, "reindex", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["missing_objects"] == []
    assert records(s3_config, remote, "matches") == before
