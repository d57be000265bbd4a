"""Deterministic OpenAI-shaped identifiers, distinct sizes and media bytes.

Every generated file gets a size no other file of the corpus has, so a size can only pin
the file it was meant to pin (docs/formats.md, section 4: DALL·E `size_bytes` is almost
unique; here it is unique by construction, except where a test makes a tie on purpose).
"""

from __future__ import annotations

import random
import string
import struct
import uuid

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
HEX = "0123456789abcdef"


class Ids:
    """Unique ids and sizes drawn from one seeded random source."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._seen: set[str] = set()
        self._sizes: set[int] = set()

    def _unique(self, make: str) -> str:
        if make in self._seen:
            raise RuntimeError(f"id collision: {make}")  # 1 in 62**22: never in practice
        self._seen.add(make)
        return make

    def base62(self, n: int) -> str:
        return "".join(self.rng.choice(BASE62) for _ in range(n))

    def hexs(self, n: int) -> str:
        return "".join(self.rng.choice(HEX) for _ in range(n))

    def file_service(self) -> str:
        """A legacy id, `file-` + 22 to 24 base62 characters."""
        return self._unique("file-" + self.base62(self.rng.choice((22, 24))))

    def sediment(self, long: bool = False) -> str:
        """A current id, `file_` + 32 hex (96 for some voice clips)."""
        return self._unique("file_" + self.hexs(96 if long else 32))

    def uuid(self) -> str:
        return self._unique(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))

    def short_name(self) -> str:
        """The 16-character names of the privacy archive's DALL·E images."""
        return self._unique(self.base62(16))

    def user_id(self) -> str:
        return "user-" + self.base62(24)

    def size(self, lo: int, mean: int) -> int:
        """A file size no other file of the corpus has: `lo` plus an exponential draw."""
        while True:
            size = lo + int(self.rng.expovariate(1 / mean))
            if size not in self._sizes:
                self._sizes.add(size)
                return size

    def decoy_size(self) -> int:
        """A `size_bytes` that no file has: the pointer's file was re-encoded or is absent."""
        return self.size(900_000, 400_000)


def media_bytes(kind: str, size: int, rng: random.Random) -> bytes:
    """`size` bytes that start like a real file of `kind` and end in random payload."""
    if kind == "png":
        head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
        head += struct.pack(">IIBBBBB", 64, 48, 8, 6, 0, 0, 0) + b"\x00\x00\x00\x00"
    elif kind == "jpeg":
        head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    elif kind == "webp":
        head = b"RIFF" + struct.pack("<I", size - 8) + b"WEBPVP8 " + struct.pack("<I", size - 20)
    elif kind == "wav":
        head = (
            b"RIFF"
            + struct.pack("<I", size - 8)
            + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16)
            + b"data"
            + struct.pack("<I", size - 44)
        )
    elif kind == "mp4":
        head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    elif kind == "pdf":
        head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    elif kind == "txt":
        words = " ".join(
            rng.choice(("a", "cat", "in", "watercolour", "style")) for _ in range(size)
        )
        return words.encode()[:size].ljust(size, b".")
    else:
        raise ValueError(f"unknown media kind {kind}")
    if size < len(head) + 8:
        raise ValueError(f"{kind} of {size} bytes is too small")
    return head + rng.randbytes(size - len(head))


EXTENSIONS = {"png": "png", "jpeg": "jpeg", "webp": "webp", "wav": "wav", "mp4": "mp4"}
MIME = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "pdf": "application/pdf",
    "txt": "text/plain",
}
IMAGE_KINDS = frozenset({"png", "jpeg", "webp"})
