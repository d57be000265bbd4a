"""An upload that dies midway: the ingest (a real CLI child) is SIGKILLed while an object
is being sent, or after it is sent but before the index names it. Nothing half-written is
trusted afterwards, and a re-run completes with what a clean run gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediasyncd.store.digest import digest_stream
from mediasyncd.store.s3 import S3Store
from tests.helpers import make_zip, media_bytes, run_mediasyncd
from tests.seaweed import Seaweed
from tests.store.conftest import make_s3_store


def ingest(config: Path, state: Path, drop: Path, fault: str | None = None) -> int:
    env = {"MEDIASYNCD_FAULT": fault} if fault else {}
    done = run_mediasyncd(
        ["--config", str(config), "--state-dir", str(state), "ingest", "--json", str(drop)],
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def every_object_is_what_it_says(store: S3Store) -> set[str]:
    found = set()
    for entry in store.iterate():
        assert entry.digest is not None, entry.location
        with store.open_location(entry.location) as handle:
            assert digest_stream(handle)[0] == entry.digest, entry.location
        found.add(entry.digest)
    return found


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    # Bigger than one read chunk (1 MiB), so the fault point inside an upload is reached.
    files = {f"meal-images/u{n}/IMG_{n}.png": media_bytes(1_500_000 + n, n) for n in range(4)}
    return make_zip(tmp_path / "dump.zip", files), files


@pytest.mark.parametrize(
    "fault", ["store.s3.after_spool:2", "store.s3.mid_upload:2", "store.s3.after_upload:2"]
)
def test_killed_upload_leaves_nothing_trusted_and_a_rerun_completes(
    seaweed: Seaweed,
    s3_bucket: str,
    s3_prefix: str,
    tmp_path: Path,
    photos: tuple[Path, dict[str, bytes]],
    fault: str,
) -> None:
    drop, files = photos
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "s3://{s3_bucket}/{s3_prefix}/objects"\n'
        f'endpoint_url = "{seaweed.endpoint}"\n'
    )
    state = tmp_path / "state"
    store = make_s3_store(seaweed, s3_bucket, s3_prefix, state)

    assert ingest(config, state, drop, fault) == -9  # SIGKILL, mid-upload or just after
    landed = every_object_is_what_it_says(store)
    assert len(landed) < len(files)
    if fault.startswith("store.s3.after_upload"):
        # An object the index does not know yet: damage it as a half-written one would be.
        victim = sorted(landed)[-1]
        size = store.size_of(victim)
        store.client.put_object(
            Bucket=s3_bucket, Key=store.key_of(victim), Body=b"\0" * (size or 1)
        )

    assert ingest(config, state, drop) == 0
    stored = every_object_is_what_it_says(store)
    done = run_mediasyncd(["--config", str(config), "--state-dir", str(state), "verify", "--json"])
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["problems"] == []
    with_digests = set()
    for data in files.values():
        import io

        with_digests.add(digest_stream(io.BytesIO(data))[0])
    assert with_digests <= stored
    uploads = store.client.list_multipart_uploads(Bucket=s3_bucket, Prefix=store.base)
    assert uploads.get("Uploads", []) == []
