"""`mediasyncd migrate --to-store URL`: a local store copied into a SeaweedFS bucket by
the real CLI in a child process, killed midway and resumed, every object verified, the
local copy untouched; then the installation runs on the bucket with the same links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediasyncd.store import ObjectStore
from mediasyncd.store.digest import digest_stream
from mediasyncd.store.transfer import CHECKPOINT_EVERY
from tests.helpers import make_zip, media_bytes, run_mediasyncd, tree_snapshot
from tests.seaweed import Seaweed
from tests.store.conftest import make_s3_store

OBJECTS = CHECKPOINT_EVERY + 20


def run(
    state: Path, *args: str, config: Path | None = None, fault: str | None = None
) -> tuple[int, str, str]:
    argv = (["--config", str(config)] if config else []) + ["--state-dir", str(state), *args]
    done = run_mediasyncd(argv, env={"MEDIASYNCD_FAULT": fault} if fault else {}, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def local_state(tmp_path: Path) -> Path:
    files = {
        f"meal-images/u{n % 7}/IMG_{n:04d}.png": media_bytes(2000 + n, n) for n in range(OBJECTS)
    }
    drop = make_zip(tmp_path / "dump.zip", files)
    state = tmp_path / "state"
    code, _, err = run(state, "ingest", str(drop))
    assert code == 0, err
    return state


@pytest.mark.slow
def test_migrate_resumes_after_a_kill_verifies_and_leaves_the_local_store(
    seaweed: Seaweed, s3_bucket: str, s3_prefix: str, local_state: Path, tmp_path: Path
) -> None:
    url = f"s3://{s3_bucket}/{s3_prefix}/objects"
    target = ["migrate", "--to-store", url, "--endpoint-url", seaweed.endpoint, "--json"]
    local = ObjectStore(local_state)
    before = tree_snapshot(local.objects)
    local_digests = {e.digest for e in local.iterate()}
    assert len(local_digests) == OBJECTS + 1  # the photos and the drop's manifest

    # Killed just after the 110th upload: past the checkpoint written at 100.
    code, _, _ = run(local_state, *target, fault=f"store.s3.after_upload:{CHECKPOINT_EVERY + 10}")
    assert code == -9
    code, out, err = run(local_state, *target)
    report = json.loads(out)["store"]
    assert code == 0, err
    assert report["ok"] and report["problems"] == []
    assert report["resumed_after"] is not None
    assert report["skipped_before_checkpoint"] == CHECKPOINT_EVERY
    # The ten uploaded after the checkpoint were read back and re-hashed, not re-sent.
    assert report["already_there"] == 10
    assert report["copied"] == OBJECTS + 1 - CHECKPOINT_EVERY - 10

    store = make_s3_store(seaweed, s3_bucket, s3_prefix, local_state)
    remote = set()
    for entry in store.iterate():
        with store.open_location(entry.location) as handle:
            assert digest_stream(handle)[0] == entry.digest
        remote.add(entry.digest)
    assert remote == local_digests
    assert tree_snapshot(local.objects) == before

    # The installation now runs on the bucket: verify re-hashes it, the links are the same.
    config = tmp_path / "s3.toml"
    config.write_text(f'[store]\nurl = "{url}"\nendpoint_url = "{seaweed.endpoint}"\n')
    code, out, _ = run(local_state, "verify", "--json", config=config)
    assert code == 0 and json.loads(out)["checked"] == OBJECTS + 1
    matches_local = run(local_state, "matches", "--format", "jsonl")[1]
    assert run(local_state, "matches", "--format", "jsonl", config=config)[1] == matches_local

    # Run again, nothing is sent: every object is verified where it is.
    code, out, _ = run(local_state, *target)
    again = json.loads(out)["store"]
    assert code == 0 and again["copied"] == 0 and again["already_there"] == OBJECTS + 1


def test_a_damaged_local_object_is_not_copied(
    seaweed: Seaweed, s3_bucket: str, s3_prefix: str, local_state: Path
) -> None:
    """An object whose bytes do not hash to its name is reported, not uploaded under
    either name, and the migration says it is not complete (exit 1)."""
    local = ObjectStore(local_state)
    victim = next(e for e in local.iterate() if e.size > 2000)
    assert victim.digest is not None
    path = local.path_of(victim.digest)
    path.chmod(0o644)
    path.write_bytes(b"\0" * victim.size)
    url = f"s3://{s3_bucket}/{s3_prefix}/objects"
    code, out, _ = run(
        local_state, "migrate", "--to-store", url, "--endpoint-url", seaweed.endpoint, "--json"
    )
    report = json.loads(out)["store"]
    assert code == 1 and not report["ok"]
    assert [p["object"] for p in report["problems"] if "damaged" in p["problem"]] == [str(path)]
    store = make_s3_store(seaweed, s3_bucket, s3_prefix, local_state)
    remote = {e.digest for e in store.iterate()}
    assert victim.digest not in remote and len(remote) == OBJECTS
    assert report["missing_in_target"] == 1
