"""What only the S3 store has: checksummed conditional uploads, multipart uploads, touch
by self-copy, its errors, and the scale extra (all on a real SeaweedFS server)."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from mediasyncd.errors import StoreError
from mediasyncd.store import s3 as s3_module
from mediasyncd.store.digest import digest_bytes
from mediasyncd.store.s3 import TOUCH_KEY, S3Store
from tests.helpers import REPO_ROOT, media_bytes
from tests.seaweed import Seaweed
from tests.store.conftest import make_s3_store, place_of


@pytest.fixture
def s3_store(seaweed: Seaweed, s3_bucket: str, s3_prefix: str, tmp_path: Path) -> S3Store:
    return make_s3_store(seaweed, s3_bucket, s3_prefix, tmp_path / "state")


def head(store: S3Store, digest: str) -> dict[str, object]:
    found: dict[str, object] = store.client.head_object(
        Bucket=store.bucket, Key=store.key_of(digest), ChecksumMode="ENABLED"
    )
    return found


def test_objects_live_under_the_prefix_at_two_plus_thirty_hex(s3_store: S3Store) -> None:
    """`s3://BUCKET/PREFIX/<2 hex>/<30 hex>`, nothing else written beside it."""
    result = s3_store.put_stream(io.BytesIO(b"mediasyncd"))
    assert result.digest == "ce408618f29bcdeebf7365848d9f494f"
    assert s3_store.location(result.digest) == (
        f"s3://{s3_store.bucket}/{s3_store.base}ce/408618f29bcdeebf7365848d9f494f"
    )
    listed = s3_store.client.list_objects_v2(Bucket=s3_store.bucket, Prefix=s3_store.base)
    assert [o["Key"] for o in listed["Contents"]] == [s3_store.key_of(result.digest)]
    assert s3_store.local_path(result.digest) is None and s3_store.local_root() is None


def test_upload_carries_the_sha256_the_server_checked(s3_store: S3Store) -> None:
    """Every upload sends the SHA-256 of its bytes; the server keeps (and checked) it."""
    data = media_bytes(5000, kind="png")
    digest = s3_store.put_stream(io.BytesIO(data)).digest
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert head(s3_store, digest)["ChecksumSHA256"] == expected


def test_an_existing_object_is_never_overwritten(s3_store: S3Store) -> None:
    """A put of an object that is there (even one the index does not vouch for, which is
    then checked and found genuine) never replaces it: the conditional write is refused
    and the object keeps the metadata only its first writer gave it."""
    data = media_bytes(4000, kind="jpeg")
    digest = digest_bytes(data)
    key = s3_store.key_of(digest)
    s3_store.client.put_object(
        Bucket=s3_store.bucket, Key=key, Body=data, Metadata={"first-writer": "yes"}
    )
    for known in (None, lambda _digest: False, lambda _digest: True):
        result = s3_store.put_stream(io.BytesIO(data), known=known)
        assert not result.new
        found = s3_store.client.head_object(Bucket=s3_store.bucket, Key=key)
        assert found["Metadata"] == {"first-writer": "yes"}


@pytest.mark.parametrize("spool_memory_mib", [16, 1], ids=["spooled", "read-again"])
def test_large_objects_go_up_in_checksummed_parts(
    s3_store: S3Store, monkeypatch: pytest.MonkeyPatch, spool_memory_mib: int
) -> None:
    """Past the multipart threshold the object is uploaded in parts (each with its
    SHA-256) to its final name, completed only if the name is free; nothing unfinished
    is left, and a second put is a hit. Both from the spool and, past the in-memory
    spool, from the (seekable) stream read again."""
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 * 1024 * 1024)
    monkeypatch.setattr(s3_module, "SPOOL_MEMORY", spool_memory_mib * 1024 * 1024)
    data = media_bytes(12 * 1024 * 1024 + 3, kind="png")
    result = s3_store.put_stream(io.BytesIO(data))
    assert result.new and result.digest == digest_bytes(data)
    with s3_store.open(result.digest) as handle:
        assert handle.read() == data
    assert "-3" in str(
        s3_store.client.head_object(Bucket=s3_store.bucket, Key=s3_store.key_of(result.digest))[
            "ETag"
        ]
    )
    uploads = s3_store.client.list_multipart_uploads(Bucket=s3_store.bucket, Prefix=s3_store.base)
    assert uploads.get("Uploads", []) == []
    assert s3_store.put_stream(io.BytesIO(data)).new is False


def test_touch_restamps_only_objects_older_than_its_threshold(
    seaweed: Seaweed, s3_bucket: str, s3_prefix: str, tmp_path: Path
) -> None:
    """A hit makes an object young again by a server-side self-copy (LastModified is the
    time gc's grace period counts from), but only once it is older than
    touch_after_seconds: the bytes stay as they were."""
    patient = make_s3_store(seaweed, s3_bucket, s3_prefix, tmp_path, touch_after_seconds=3600)
    eager = make_s3_store(seaweed, s3_bucket, s3_prefix, tmp_path, touch_after_seconds=0)
    data = media_bytes(3000, kind="gif")
    digest = patient.put_stream(io.BytesIO(data)).digest
    assert not patient.put_stream(io.BytesIO(data)).new
    assert TOUCH_KEY not in head(patient, digest)["Metadata"]  # type: ignore[operator]
    before = patient.stat(digest)
    assert not eager.put_stream(io.BytesIO(data)).new
    assert TOUCH_KEY in head(eager, digest)["Metadata"]  # type: ignore[operator]
    after = eager.stat(digest)
    assert before is not None and after is not None and after.mtime >= before.mtime
    with eager.open(digest) as handle:
        assert handle.read() == data


def test_stale_multipart_uploads_are_aborted(
    s3_store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upload a dead writer left unfinished is aborted once it is older than a day."""
    key = s3_store.base + place_of(digest_bytes(b"never finished"))
    s3_store.client.create_multipart_upload(Bucket=s3_store.bucket, Key=key)
    assert s3_store.remove_stale_temp_files() == 0  # young: a live writer's
    monkeypatch.setattr(s3_module, "STALE_UPLOAD_SECONDS", -60.0)
    assert s3_store.remove_stale_temp_files() == 1
    uploads = s3_store.client.list_multipart_uploads(Bucket=s3_store.bucket, Prefix=s3_store.base)
    assert uploads.get("Uploads", []) == []


def test_wrong_credentials_and_a_missing_bucket_are_clear_errors(
    s3_store: S3Store, seaweed: Seaweed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server really checks credentials: a wrong secret is refused with S3's own
    words, and a bucket that does not exist is named as such."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    wrong = make_s3_store(seaweed, s3_store.bucket, "x", tmp_path)
    with pytest.raises(StoreError, match="access denied"):
        wrong.ensure()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.env()["AWS_SECRET_ACCESS_KEY"])
    missing = make_s3_store(seaweed, "no-such-bucket-here", "x", tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        missing.ensure()


def test_an_s3_url_without_the_scale_extra_is_a_clear_error(tmp_path: Path) -> None:
    """On an install without boto3, `[store] url = "s3://..."` stops with one line saying
    which extra to install (exit 2), not a traceback."""
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "s3://some-bucket/objects"\n')
    drop = tmp_path / "photo.png"
    drop.write_bytes(media_bytes(100))
    blocker = (
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "from mediasyncd.cli import main\n"
        f"sys.exit(main(['--config', {str(config)!r}, '--state-dir', "
        f"{str(tmp_path / 'state')!r}, 'ingest', {str(drop)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "pip install 'mediasyncd[scale]'" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_bad_store_url_is_a_config_error(tmp_path: Path) -> None:
    """A store.url that is no s3:// URL (or names no valid bucket) is refused at load."""
    from mediasyncd.config import parse_config
    from mediasyncd.errors import ConfigError

    for bad in ("/srv/objects", "s3://", "s3://UPPER/x", "s3://ok-bucket/a//b"):
        with pytest.raises(ConfigError, match=r"store\.url"):
            parse_config(f'[store]\nurl = "{bad}"\n')
    with pytest.raises(ConfigError, match=r"watch\.s3\[1\]"):
        parse_config('[watch]\ns3 = ["s3://fine-bucket/", "http://nope"]\n')


PUT_SCRIPT = """
import io, sys
from pathlib import Path
from mediasyncd.store.s3 import open_s3_store
url, endpoint, spool, size, seekable = sys.argv[1:]
store = open_s3_store(url, endpoint_url=endpoint, spool_dir=Path(spool))
data = bytes(range(256)) * (int(size) // 256)


class OneWay(io.RawIOBase):
    def __init__(self):
        self.data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        return self.data.readinto(buffer)


stream = io.BytesIO(data) if seekable == "yes" else io.BufferedReader(OneWay())
print(store.put_stream(stream).digest)
"""


@pytest.mark.parametrize("seekable", ["yes", "no"])
def test_a_stream_that_can_be_read_again_never_touches_the_local_disk(
    seaweed: Seaweed, s3_bucket: str, s3_prefix: str, tmp_path: Path, seekable: str
) -> None:
    """An object past the in-memory spool (an object of a watched bucket is one) goes
    from the stream to S3 without a local spool file: a child process that would die the
    moment its spool left memory (fault point store.s3.spool_to_disk) stores it whole; a
    one-way stream of the same size does need the spool, and that child dies there."""
    import os

    size = 20 * 1024 * 1024
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PUT_SCRIPT,
            f"s3://{s3_bucket}/{s3_prefix}/objects",
            seaweed.endpoint,
            str(tmp_path / "spool"),
            str(size),
            seekable,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        env={**os.environ, "MEDIASYNCD_FAULT": "store.s3.spool_to_disk"},
    )
    if seekable == "no":
        assert done.returncode == -9, done.stderr
        return
    assert done.returncode == 0, done.stderr
    store = make_s3_store(seaweed, s3_bucket, s3_prefix, tmp_path)
    digest = done.stdout.strip()
    assert store.size_of(digest) == size
    with store.open(digest) as handle:
        assert digest_bytes(handle.read()) == digest
