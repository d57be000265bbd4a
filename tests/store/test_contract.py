"""The Store contract, on both stores: the local one and S3 (a real SeaweedFS bucket).

Every test here goes through the Store interface only (plus `plant`, which writes raw
bytes where damage or a stray writer would); what only one store has (the local store's
temp files and read-only modes, S3's multipart uploads and checksums) is tested beside it
(tests/test_store.py, tests/store/test_s3.py).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediasyncd.errors import CollisionError, MemberRejected, StoreError
from mediasyncd.store import SizeLimit, Store
from mediasyncd.store.digest import digest_bytes
from tests.helpers import media_bytes
from tests.store.conftest import Planter, place_of

Leftovers = Callable[[], list[str]]

FIXTURE_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def read_all(store: Store, digest: str) -> bytes:
    with store.open(digest) as handle:
        return handle.read()


@settings(suppress_health_check=FIXTURE_CHECKS, max_examples=25)
@given(data=st.binary(max_size=70_000))
def test_put_then_read_round_trip(any_store: Store, leftovers: Leftovers, data: bytes) -> None:
    """Whatever goes in comes back byte for byte, under the digest of those bytes; putting
    it again is a hit that writes nothing new."""
    first = any_store.put_stream(io.BytesIO(data))
    assert first.digest == digest_bytes(data)
    assert first.size == len(data)
    assert read_all(any_store, first.digest) == data
    again = any_store.put_stream(io.BytesIO(data))
    assert (again.digest, again.size, again.new) == (first.digest, len(data), False)
    assert leftovers() == []


@settings(suppress_health_check=FIXTURE_CHECKS, max_examples=15)
@given(data=st.binary(max_size=5000), want_sha=st.booleans())
def test_hash_stream_agrees_with_put_stream(any_store: Store, data: bytes, want_sha: bool) -> None:
    """Hashing without writing yields the same digest, size, type and SHA-256 as a put."""
    hashed = any_store.hash_stream(io.BytesIO(data), want_sha256=want_sha)
    put = any_store.put_stream(io.BytesIO(data), want_sha256=want_sha)
    assert (hashed.digest, hashed.size, hashed.mime, hashed.sha256) == (
        put.digest,
        put.size,
        put.mime,
        put.sha256,
    )
    assert hashed.new is False


def test_put_sniffs_media_type_and_sha256(any_store: Store) -> None:
    """The media type comes from the first bytes; SHA-256 is returned only when asked."""
    png = media_bytes(3000, kind="png")
    result = any_store.put_stream(io.BytesIO(png), want_sha256=True)
    assert result.mime == "image/png"
    assert result.sha256 == hashlib.sha256(png).digest()
    assert any_store.put_stream(io.BytesIO(png)).sha256 is None


class OneWay(io.RawIOBase):
    """A stream that cannot seek (a zip member, a pipe): the store cannot read it twice."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


@pytest.mark.parametrize("seekable", [True, False], ids=["seekable", "one-way"])
def test_large_stream_is_stored_whole(
    any_store: Store, leftovers: Leftovers, seekable: bool
) -> None:
    """A stream of many read chunks, past the S3 store's in-memory spool (16 MiB), is
    stored whole and read back in pieces, whether the store may read it again (seekable)
    or must spool it (one-way)."""
    data = media_bytes(17 * 1024 * 1024 + 17, kind="jpeg")
    stream = io.BytesIO(data) if seekable else io.BufferedReader(OneWay(data))
    result = any_store.put_stream(stream)  # type: ignore[arg-type]
    assert result.mime == "image/jpeg" and result.size == len(data)
    with any_store.open(result.digest) as handle:
        assert handle.read(10) == data[:10]
        assert handle.read() == data[10:]
    assert leftovers() == []


def test_open_is_seekable(any_store: Store) -> None:
    """Readers rewind (a byte-order mark check) and jump (Pillow): open allows both."""
    data = bytes(range(256)) * 4000
    digest = any_store.put_stream(io.BytesIO(data)).digest
    with any_store.open(digest) as handle:
        assert handle.read(3) == data[:3]
        handle.seek(0)
        assert handle.read(5) == data[:5]
        handle.seek(700_000)
        assert handle.read(4) == data[700_000:700_004]
        handle.seek(-2, io.SEEK_END)
        assert handle.read() == data[-2:]


def test_size_mismatch_on_hit_is_a_collision(
    any_store: Store, plant: Planter, leftovers: Leftovers
) -> None:
    """An existing object of another size under the same name raises CollisionError."""
    result = any_store.put_stream(io.BytesIO(b"original bytes"))
    plant(place_of(result.digest), b"short")
    with pytest.raises(CollisionError) as caught:
        any_store.put_stream(io.BytesIO(b"original bytes"))
    assert caught.value.digest == result.digest
    assert "collision" in str(caught.value) and "5 bytes" in str(caught.value)
    assert leftovers() == []


def test_same_size_different_bytes_detected_when_configured(
    store_factory: Callable[..., Store], plant: Planter
) -> None:
    """With compare_bytes_on_hit, same-size different bytes under a name is a collision;
    without it, the size check alone passes (the documented trade-off)."""
    careful = store_factory(compare_bytes_on_hit=True)
    result = careful.put_stream(io.BytesIO(b"original bytes"))
    plant(place_of(result.digest), b"ORIGINAL BYTES")
    with pytest.raises(CollisionError, match="different bytes of the same size"):
        careful.put_stream(io.BytesIO(b"original bytes"))
    trusting = store_factory()
    assert trusting.put_stream(io.BytesIO(b"original bytes")).new is False


def test_hit_with_same_bytes_passes_byte_compare(store_factory: Callable[..., Store]) -> None:
    """compare_bytes_on_hit accepts a genuine duplicate."""
    careful = store_factory(compare_bytes_on_hit=True)
    data = media_bytes(2 * 1024 * 1024 + 5, kind="gif")
    assert careful.put_stream(io.BytesIO(data)).new
    assert careful.put_stream(io.BytesIO(data)).new is False


def test_size_limit_rejects_and_leaves_nothing(any_store: Store, leftovers: Leftovers) -> None:
    """A stream over its limit raises MemberRejected naming source and member; no object
    remains."""
    limit = SizeLimit(1000, "drop.zip", "big.png", "over the limit")
    with pytest.raises(MemberRejected) as caught:
        any_store.put_stream(io.BytesIO(b"x" * 5000), limit=limit)
    assert caught.value.source == "drop.zip" and caught.value.member == "big.png"
    assert str(caught.value) == "drop.zip [big.png]: over the limit"
    assert list(any_store.iterate()) == [] and leftovers() == []
    with pytest.raises(MemberRejected):
        any_store.hash_stream(io.BytesIO(b"x" * 5000), limit=limit)


def test_should_abort_stops_the_write(any_store: Store, leftovers: Leftovers) -> None:
    """A shutdown request interrupts a put without leaving an object."""
    with pytest.raises(StoreError, match="interrupted"):
        any_store.put_stream(io.BytesIO(b"x" * 10), should_abort=lambda: True)
    assert list(any_store.iterate()) == [] and leftovers() == []


def test_has_open_stat_and_size_of(any_store: Store) -> None:
    """has/stat/size_of/open report present and absent objects without surprises."""
    missing = digest_bytes(b"never stored")
    assert not any_store.has(missing)
    assert any_store.size_of(missing) is None and any_store.stat(missing) is None
    with pytest.raises(StoreError, match="cannot be read"):
        any_store.open(missing)
    result = any_store.put_stream(io.BytesIO(b"12345"))
    assert any_store.has(result.digest) and any_store.size_of(result.digest) == 5
    found = any_store.stat(result.digest)
    assert found is not None and found.size == 5 and found.mtime > 0


def test_not_a_digest_is_refused(any_store: Store) -> None:
    """Only a 32-hex digest names an object (no path or key tricks through the API)."""
    for bad in ("../../etc/passwd", "ABCDEF" * 6, "12"):
        with pytest.raises(StoreError):
            any_store.location(bad)


def test_iterate_lists_objects_in_order_and_names_misplaced_entries(
    any_store: Store, plant: Planter
) -> None:
    """Entries whose place is not a digest are listed with None; a digest prefix narrows
    the listing to its shard; quarantined entries are not part of the store."""
    digests = sorted(any_store.put_stream(io.BytesIO(bytes([n]) * 7)).digest for n in range(12))
    plant("stray", b"?")
    plant("ab/short", b"?")
    listed = list(any_store.iterate())
    named = [e.digest for e in listed if e.digest is not None]
    assert named == digests
    strays = sorted("/".join(e.location.split("/")[-2:]) for e in listed if e.digest is None)
    assert strays == ["ab/short", "objects/stray"]
    assert all(e.size == 7 for e in listed if e.digest is not None)
    first = digests[0]
    assert [e.digest for e in any_store.iterate(first[:2])] == [
        d for d in digests if d.startswith(first[:2])
    ]
    assert [e.digest for e in any_store.iterate(first[:5])] == [first]
    any_store.quarantine(any_store.location(first), "set-aside")
    assert first not in [e.digest for e in any_store.iterate()]


def test_open_location_remove_and_quarantine(any_store: Store) -> None:
    """An entry found by iteration can be read, removed (twice is fine) or set aside with
    its bytes kept elsewhere."""
    keep = any_store.put_stream(io.BytesIO(b"soon damaged"))
    drop = any_store.put_stream(io.BytesIO(b"soon removed"))
    with any_store.open_location(any_store.location(keep.digest)) as handle:
        assert handle.read() == b"soon damaged"
    moved = any_store.quarantine(any_store.location(keep.digest), f"{keep.digest}-damaged")
    assert f"{keep.digest}-damaged-" in moved
    assert not any_store.has(keep.digest)
    any_store.remove(any_store.location(drop.digest))
    any_store.remove(any_store.location(drop.digest))
    assert not any_store.has(drop.digest)
    assert list(any_store.iterate()) == []


def test_open_location_outside_the_store_is_refused(any_store: Store) -> None:
    """A location that is not the store's own is never read or removed."""
    for outside in ("/etc/passwd", "s3://other-bucket/objects/ab/cd"):
        with pytest.raises(StoreError):
            any_store.open_location(outside)
        with pytest.raises(StoreError):
            any_store.remove(outside)


def test_a_hit_on_an_object_the_index_does_not_know_is_checked(
    any_store: Store, plant: Planter
) -> None:
    """An object no index row vouches for (planted, or left by a killed writer) that does
    not hold what its name says is set aside and replaced by the real bytes; an unknown
    object that is genuine stays and counts as a hit."""
    real = media_bytes(3000, "real")
    digest = digest_bytes(real)
    plant(place_of(digest), media_bytes(3000, "planted"))
    result = any_store.put_stream(io.BytesIO(real), known=lambda _digest: False)
    assert read_all(any_store, digest) == real and result.new
    again = any_store.put_stream(io.BytesIO(real), known=lambda _digest: False)
    assert not again.new and read_all(any_store, digest) == real


def test_a_known_object_is_trusted_on_its_size(any_store: Store, plant: Planter) -> None:
    """An object the index vouches for is a hit on its size alone (its bytes are what
    verify and the scrub check): the put neither reads nor rewrites it."""
    real = media_bytes(3000, "real")
    digest = any_store.put_stream(io.BytesIO(real)).digest
    plant(place_of(digest), media_bytes(3000, "same size"))
    assert not any_store.put_stream(io.BytesIO(real), known=lambda _digest: True).new
    assert read_all(any_store, digest) == media_bytes(3000, "same size")
