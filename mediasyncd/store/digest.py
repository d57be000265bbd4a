"""Content digests: XXH3-128 names every object; SHA-256 is computed only when asked.

SHA-256 is needed for Langfuse media ids (the first 22 characters of the URL-safe base64 of
the file's SHA-256), so image-dump readers ask for it while the bytes stream past anyway.
"""

from __future__ import annotations

import base64
import re
from typing import BinaryIO, Final

import xxhash

CHUNK_SIZE: Final = 1024 * 1024
DIGEST_RE: Final = re.compile(r"^[0-9a-f]{32}$")


def new_hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def digest_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def digest_stream(stream: BinaryIO) -> tuple[str, int]:
    """Digest and length of everything left in `stream`."""
    hasher = new_hasher()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def is_digest(text: str) -> bool:
    return bool(DIGEST_RE.match(text))


def langfuse_media_id(sha256_digest: bytes) -> str:
    """Langfuse's media id for content with this SHA-256 (packages/shared mediaService.ts)."""
    return base64.urlsafe_b64encode(sha256_digest).decode("ascii")[:22]
