"""Durability per batch (issue 14): inside `batch()` objects are written and linked
without an fsync each; `sync_batch()` makes them durable together with one syncfs of the
store's filesystem, or an fsync of each file and touched folder where there is no syncfs.

The flush calls are counted by wrapping the real `os.fsync` and syncfs (they still run)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mediasyncd.store import ObjectStore, barrier
from mediasyncd.store.digest import digest_bytes
from tests.helpers import media_bytes


class Flushes:
    def __init__(self) -> None:
        self.fsync: list[int] = []
        self.syncfs = 0


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flushes]:
    seen = Flushes()
    real_fsync = os.fsync
    real_syncfs = barrier.syncfs

    def counting_fsync(fd: int) -> None:
        seen.fsync.append(fd)
        real_fsync(fd)

    def counting_syncfs(folder: Path) -> bool:
        done = real_syncfs(folder)
        seen.syncfs += int(done)
        return done

    monkeypatch.setattr(os, "fsync", counting_fsync)
    monkeypatch.setattr(barrier, "syncfs", counting_syncfs)
    yield seen


def _put_many(store: ObjectStore, count: int, seed: str = "b") -> list[str]:
    return [
        store.put_stream(io.BytesIO(media_bytes(500 + n, f"{seed}{n}"))).digest
        for n in range(count)
    ]


def test_a_batch_flushes_once_not_twice_per_object(tmp_path: Path, flushes: Flushes) -> None:
    store = ObjectStore(tmp_path / "state")
    with store.batch():
        digests = _put_many(store, 40)
        assert flushes.fsync == [] and flushes.syncfs == 0
        store.sync_batch()
    assert flushes.syncfs == 1 and flushes.fsync == []
    assert store.barrier_calls == 1
    for digest in digests:
        assert store.path_of(digest).is_file()


def test_per_object_durability_flushes_each_object_and_folder(
    tmp_path: Path, flushes: Flushes
) -> None:
    store = ObjectStore(tmp_path / "state", durability="object")
    with store.batch():
        _put_many(store, 10)
        store.sync_batch()
    assert len(flushes.fsync) >= 20 and flushes.syncfs == 0


def test_without_syncfs_each_file_and_folder_of_the_batch_is_fsynced(
    tmp_path: Path, flushes: Flushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A system with no syncfs: the barrier fsyncs each object of the batch and each
    folder it touched, once, at the barrier (not while writing)."""
    monkeypatch.setattr(barrier, "_syncfs", None)
    store = ObjectStore(tmp_path / "state")
    with store.batch():
        digests = _put_many(store, 12)
        assert flushes.fsync == []
        store.sync_batch()
    shards = {d[:2] for d in digests}
    # Every object, every shard folder and objects/ itself (the shards were new).
    assert len(flushes.fsync) == len(digests) + len(shards) + 1
    assert flushes.syncfs == 0


def test_an_unnamed_genuine_object_found_on_a_hit_joins_the_batch(
    tmp_path: Path, flushes: Flushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer's object the index does not name yet (its batch has not reached
    its barrier) is re-hashed, and, genuine, made durable with this batch before this
    writer's index names it."""
    monkeypatch.setattr(barrier, "_syncfs", None)
    data = media_bytes(900, "other")
    digest = digest_bytes(data)
    other = ObjectStore(tmp_path / "state")
    with other.batch():
        other.put_stream(io.BytesIO(data))  # linked, not flushed: the other writer stops here
    store = ObjectStore(tmp_path / "state")
    rehashed: list[str] = []

    def unknown(found: str) -> bool:
        rehashed.append(found)
        return False

    with store.batch():
        result = store.put_stream(io.BytesIO(data), known=unknown)
        assert not result.new and rehashed == [digest]
        assert flushes.fsync == []
        store.sync_batch()
    assert len(flushes.fsync) == 2  # the object and its shard folder


def test_an_unnamed_damaged_object_is_replaced_inside_a_batch(tmp_path: Path) -> None:
    """Torn by a power cut before its barrier (or planted): never trusted."""
    data = media_bytes(700, "torn")
    digest = digest_bytes(data)
    store = ObjectStore(tmp_path / "state")
    path = store.path_of(digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\0" * len(data))
    never: Callable[[str], bool] = lambda _digest: False  # noqa: E731
    with store.batch():
        result = store.put_stream(io.BytesIO(data), known=never)
        store.sync_batch()
    assert result.new
    assert path.read_bytes() == data
    assert len(list((store.root / "quarantine").iterdir())) == 1


def test_objects_of_this_batch_are_trusted_without_rehashing(tmp_path: Path) -> None:
    """The same bytes twice in one batch: the second is a hit on this batch's own object,
    not an unnamed one to re-hash."""
    store = ObjectStore(tmp_path / "state")
    asked: list[str] = []

    def known(found: str) -> bool:
        asked.append(found)
        return False

    data = media_bytes(600, "twice")
    with store.batch():
        first = store.put_stream(io.BytesIO(data), known=known)
        second = store.put_stream(io.BytesIO(data), known=known)
    assert first.new and not second.new
    assert asked == []
