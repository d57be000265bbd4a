"""Both stores behind one fixture: `any_store` runs a test on the local store and on the
S3 store (a real SeaweedFS bucket), and `plant` puts raw bytes under a store's name for an
object, as damage or a stray writer would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mediasyncd.store import ObjectStore, Store
from mediasyncd.store.s3 import S3Store, open_s3_store
from tests.seaweed import Seaweed

Planter = Callable[[str, bytes], None]


def make_s3_store(
    seaweed: Seaweed, bucket: str, prefix: str, state: Path, **options: object
) -> S3Store:
    return open_s3_store(
        f"s3://{bucket}/{prefix}/objects",
        endpoint_url=seaweed.endpoint,
        spool_dir=state / "tmp",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., Store]:
    """store_factory(compare_bytes_on_hit=..., touch_after_seconds=...): a store of this
    test's kind on the same place each call (local: the state dir; S3: the bucket)."""
    state = tmp_path / "state"
    if store_kind == "local":

        def local(**options: object) -> Store:
            options.pop("touch_after_seconds", None)
            return ObjectStore(state, **options)  # type: ignore[arg-type]

        return local
    seaweed: Seaweed = request.getfixturevalue("seaweed")
    bucket: str = request.getfixturevalue("s3_bucket")
    prefix: str = request.getfixturevalue("s3_prefix")
    return lambda **options: make_s3_store(seaweed, bucket, prefix, state, **options)


@pytest.fixture
def any_store(store_factory: Callable[..., Store]) -> Store:
    store = store_factory()
    store.ensure()
    return store


@pytest.fixture
def plant(any_store: Store) -> Planter:
    """plant(name, data): raw bytes at `name` relative to the store's root of objects
    ("ab/cdef…" for a digest's place, "stray" for a file that names none)."""
    if isinstance(any_store, ObjectStore):
        objects = any_store.objects

        def on_disk(name: str, data: bytes) -> None:
            path = objects / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.chmod(0o644)
            path.write_bytes(data)

        return on_disk
    assert isinstance(any_store, S3Store)
    s3 = any_store

    def in_bucket(name: str, data: bytes) -> None:
        s3.client.put_object(Bucket=s3.bucket, Key=s3.base + name, Body=data)

    return in_bucket


def place_of(digest: str) -> str:
    return f"{digest[:2]}/{digest[2:]}"


@pytest.fixture
def leftovers(any_store: Store, tmp_path: Path) -> Callable[[], list[str]]:
    """What a put left behind that is not an object: the local store's temp files; the
    S3 store's unfinished multipart uploads and spool files."""
    if isinstance(any_store, ObjectStore):
        local = any_store
        return lambda: [str(p) for p in local.temp_files()]
    assert isinstance(any_store, S3Store)
    s3 = any_store

    def remote() -> list[str]:
        uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket, Prefix=s3.base)
        spooled = sorted(s3.spool_dir.iterdir()) if s3.spool_dir.exists() else []
        return [u["Key"] for u in uploads.get("Uploads", [])] + [str(p) for p in spooled]

    return remote
