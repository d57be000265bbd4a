"""Digests: XXH3-128 pinned to known values, chunking-independent, cross-checked with xxhsum."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediasyncd.store.digest import (
    digest_bytes,
    digest_stream,
    is_digest,
    langfuse_media_id,
    new_hasher,
)

# Pinned once from the xxhash library and confirmed with `xxhsum -H2` (xxHash 0.8.1).
KNOWN = {
    b"": "99aa06d3014798d86001c324468d497f",
    b"mediasyncd": "ce408618f29bcdeebf7365848d9f494f",
}


@pytest.mark.parametrize(("data", "expected"), sorted(KNOWN.items()))
def test_known_digests_are_pinned(data: bytes, expected: str) -> None:
    """The digest of fixed inputs never changes: stored object names depend on it."""
    assert digest_bytes(data) == expected
    assert digest_stream(io.BytesIO(data)) == (expected, len(data))


def test_digest_is_32_lowercase_hex() -> None:
    """Digests have the contract's shape, and is_digest accepts exactly that shape."""
    digest = digest_bytes(b"anything")
    assert is_digest(digest)
    assert len(digest) == 32
    assert digest == digest.lower()
    assert not is_digest(digest.upper())
    assert not is_digest(digest[:-1])
    assert not is_digest(digest + "0")
    assert not is_digest("g" * 32)
    assert not is_digest("")


def test_matches_xxhsum_command(tmp_path: Path) -> None:
    """The reference tool `xxhsum -H2` (XXH128) agrees with the pinned digests."""
    xxhsum = shutil.which("xxhsum")
    if xxhsum is None:
        pytest.skip("xxhsum is not installed (Debian package 'xxhash'); cross-check skipped")
    for data, expected in KNOWN.items():
        sample = tmp_path / "sample.bin"
        sample.write_bytes(data)
        out = subprocess.run(
            [xxhsum, "-H2", str(sample)], capture_output=True, text=True, check=True
        ).stdout
        assert out.split()[0] == expected


@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 4096), max_size=8))
def test_chunked_hash_equals_whole_hash(data: bytes, cuts: list[int]) -> None:
    """Feeding the hasher in any chunking gives the digest of the whole input."""
    hasher = new_hasher()
    previous = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        hasher.update(data[previous:cut])
        previous = cut
    assert hasher.hexdigest() == digest_bytes(data)


def test_stream_digest_spans_chunk_boundaries() -> None:
    """A stream longer than one read chunk hashes to the whole-bytes digest."""
    data = bytes(range(256)) * 9000  # a little over 2 MiB: three reads
    assert digest_stream(io.BytesIO(data)) == (digest_bytes(data), len(data))


def test_langfuse_media_id_is_22_urlsafe_chars_of_sha256() -> None:
    """Langfuse media ids are the first 22 URL-safe base64 characters of the SHA-256."""
    media_id = langfuse_media_id(hashlib.sha256(b"hello").digest())
    # base64url(sha256("hello")) = LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=
    assert media_id == "LPJNul-wow4m6Dsqxbninh"
    assert len(media_id) == 22
