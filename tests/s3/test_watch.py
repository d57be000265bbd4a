"""S3 as a source: a watched prefix of a real SeaweedFS bucket polled for new objects.

Only new keys are fetched (GETs counted on the real client), a key listed again is not
fetched again, a batch a shutdown interrupted is finished under its own name before new
keys are taken, and each photo lands as the image-dump reader places and times it: the
user from the key, the time from the object's LastModified."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.config import Config, WatchConfig
from mediasyncd.index.s3_watch import WatchState
from mediasyncd.s3.url import parse_s3_url
from mediasyncd.s3.watch import PollReport, poll_prefix
from tests.seaweed import Seaweed
from tests.support.traces_gen import jpeg

T_EXIF = datetime.fromisoformat("2021-06-01T12:00:00+00:00")


class Photos:
    """Photos put into `<prefix>/meal-images/<user>/` of the tests' bucket, and a client
    that counts its GETs."""

    def __init__(self, seaweed: Seaweed, bucket: str, prefix: str):
        self.bucket = bucket
        self.root = f"{prefix}/meal-images/"
        self.url = f"s3://{bucket}/{self.root}"
        self.client = seaweed.client()
        self.gets: list[str] = []
        self.client.meta.events.register("provide-client-params.s3.GetObject", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        self.gets.append(str(params["Key"]))

    def put(self, name: str, seed: int) -> str:
        key = self.root + name
        self.client.put_object(Bucket=self.bucket, Key=key, Body=jpeg(seed, taken=T_EXIF))
        return key

    def last_modified(self, key: str) -> datetime:
        found: datetime = self.client.head_object(Bucket=self.bucket, Key=key)["LastModified"]
        return found


@pytest.fixture
def photos(seaweed: Seaweed, s3_bucket: str, s3_prefix: str) -> Photos:
    return Photos(seaweed, s3_bucket, s3_prefix)


@pytest.fixture
def poll(make_app: Callable[..., App], photos: Photos) -> Callable[..., PollReport]:
    config = dataclasses.replace(Config(), watch=WatchConfig(s3=[photos.url]))

    def once(*, should_stop: Callable[[], bool] | None = None) -> PollReport:
        app = make_app(config)  # a new App each time: nothing carried in memory
        try:
            return poll_prefix(
                photos.url,
                index=app.index,
                store=app.store,
                config=config,
                state_dir=app.state_dir,
                client=photos.client,
                should_stop=should_stop,
            )
        finally:
            app.close()

    return once


def rows(app: App) -> dict[str, tuple[str, str, str]]:
    """member -> (user, taken, time source) of every photo the index holds."""
    return {
        member: (user, taken, source)
        for member, user, taken, source in app.index.execute(
            """SELECT o.member, d.user_id, d.taken, d.time_source FROM dump_images d
               JOIN occurrences o ON o.id = d.occurrence_id"""
        )
    }


def test_new_keys_only_are_fetched_and_placed_as_a_dump_is(
    photos: Photos, poll: Callable[..., PollReport], app: App
) -> None:
    first = [photos.put(f"u1/IMG_{n}.jpg", n) for n in range(3)]
    report = poll()
    assert report.error is None and report.new_keys == 3
    assert [state for _, state in report.batches] == ["ok"]
    assert sorted(photos.gets) == sorted(first)

    # Two more between polls: only they are fetched.
    photos.gets.clear()
    second = [photos.put("u2/IMG_a.jpg", 10), photos.put("u1/IMG_3.jpg", 11)]
    report = poll()
    assert report.new_keys == 2 and sorted(photos.gets) == sorted(second)

    # Nothing new: a listing, no GET, no drop.
    photos.gets.clear()
    report = poll()
    assert (report.new_keys, report.batches, photos.gets) == (0, [], [])

    found = rows(app)
    assert len(found) == 5
    for key in first + second:
        user = key.split("/")[-2]
        # LastModified (whole seconds, UTC) wins over the EXIF date, as a listing's does.
        taken = photos.last_modified(key).isoformat(timespec="seconds")
        assert found[f"{photos.bucket}/{key}"] == (user, taken, "listing")
    sources = [path for (path,) in app.index.execute("SELECT path FROM sources WHERE state = 'ok'")]
    assert len(sources) == 2 and all(p.startswith(photos.url + "#") for p in sources)


def test_a_key_listed_again_is_not_fetched_again(
    photos: Photos, poll: Callable[..., PollReport], app: App
) -> None:
    """A key already taken is not new when it is listed again, even with new bytes (the
    first version stays what was stored)."""
    key = photos.put("u1/IMG_1.jpg", 1)
    assert poll().new_keys == 1
    photos.client.put_object(Bucket=photos.bucket, Key=key, Body=jpeg(99))
    photos.gets.clear()
    assert poll().new_keys == 0 and photos.gets == []
    assert len(rows(app)) == 1


def test_an_interrupted_batch_is_finished_under_its_own_name_first(
    photos: Photos, poll: Callable[..., PollReport], app: App, state_dir: Path
) -> None:
    """A shutdown mid-batch leaves it open; the next poll ingests that batch (same source,
    same keys) before it takes the keys added since, so no key lands twice."""
    for n in range(3):
        photos.put(f"u1/IMG_{n}.jpg", n)
    report = poll(should_stop=lambda: True)
    assert [state for _, state in report.batches] == ["pending"]
    ((batch, _),) = report.batches
    photos.put("u3/IMG_new.jpg", 50)
    report = poll()
    assert next(b for b, _ in report.batches) == batch
    assert [state for _, state in report.batches] == ["ok", "ok"]
    assert report.new_keys == 1
    found = rows(app)
    assert len(found) == 4
    counts = dict(
        app.index.execute(
            """SELECT s.path, COUNT(*) FROM occurrences o JOIN sources s ON s.id = o.source_id
               WHERE o.member NOT LIKE '.mediasyncd/%' GROUP BY s.path"""
        ).fetchall()
    )
    assert sorted(counts.values()) == [1, 3]
    state = WatchState.for_url(state_dir, parse_s3_url(photos.url))
    try:
        assert state.open_batches() == [] and state.key_count() == 4
    finally:
        state.close()


def test_an_unreachable_bucket_leaves_the_batch_for_the_next_poll(
    photos: Photos, poll: Callable[..., PollReport], app: App, seaweed: Seaweed
) -> None:
    """Objects that cannot be read now (here: refused credentials) are not the batch's
    fault: it stays pending and open, nothing is recorded as a problem of its photos,
    and the next poll with working credentials lands it."""
    photos.put("u1/IMG_1.jpg", 1)
    good = photos.client
    listing_only = seaweed.client(aws_secret_access_key="wrong")
    # Listed with the good client, fetched with the bad one.
    photos.client = _ListingBy(good, listing_only)  # type: ignore[assignment]
    report = poll()
    assert [state for _, state in report.batches] == ["pending"]
    photos.client = good
    report = poll()
    assert [state for _, state in report.batches] == ["ok"] and report.new_keys == 0
    assert len(rows(app)) == 1


class _ListingBy:
    """A real client for listings and another real client for everything else."""

    def __init__(self, lister: Any, other: Any):
        self._lister = lister
        self._other = other

    def get_paginator(self, name: str) -> Any:
        return self._lister.get_paginator(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._other, name)


POLL_SCRIPT = """
import sys
from mediasyncd.app import App
from mediasyncd.s3.watch import poll_prefix
app = App.load(sys.argv[1], sys.argv[2])
report = poll_prefix(
    app.config.watch.s3[0], index=app.index, store=app.store, config=app.config,
    state_dir=app.state_dir,
)
print(report.new_keys, [state for _, state in report.batches], report.error)
"""


def test_a_large_object_goes_from_the_bucket_into_the_s3_store_without_local_disk(
    photos: Photos, seaweed: Seaweed, tmp_path: Path
) -> None:
    """A 20 MiB photo of the watched bucket is streamed into the S3 store (the store reads
    it again from the bucket rather than spooling it): a poll in a child process that
    would die if its spool left memory lands it whole."""
    import os
    import subprocess
    import sys

    from mediasyncd.store.digest import digest_bytes
    from mediasyncd.store.s3 import open_s3_store
    from tests.helpers import REPO_ROOT, media_bytes

    big = media_bytes(20 * 1024 * 1024, "big photo", kind="jpeg")
    photos.client.put_object(Bucket=photos.bucket, Key=photos.root + "u1/IMG_big.jpg", Body=big)
    store_prefix = photos.root.split("/")[0] + "/store"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\nurl = "s3://{photos.bucket}/{store_prefix}"\n'
        f'endpoint_url = "{seaweed.endpoint}"\n'
        f'[watch]\ns3 = ["{photos.url}"]\ns3_endpoint_url = "{seaweed.endpoint}"\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", POLL_SCRIPT, str(config), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        env={**os.environ, "MEDIASYNCD_FAULT": "store.s3.spool_to_disk"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "1 ['ok'] None"
    # The store the poll wrote to: the config's url, not the tests' usual `<prefix>/objects`.
    store = open_s3_store(
        f"s3://{photos.bucket}/{store_prefix}",
        endpoint_url=seaweed.endpoint,
        spool_dir=tmp_path / "tmp",
    )
    with store.open(digest_bytes(big)) as handle:
        assert handle.read() == big
