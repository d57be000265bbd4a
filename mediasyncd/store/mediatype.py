"""Media type from magic bytes, never from the name.

Era C exports name every file `file-<id>.dat`; and one importer shipped WAV files as broken
WebP because it only looked at `RIFF`. So the type comes from the first bytes, and RIFF
containers are told apart by their form type at offset 8.
"""

from __future__ import annotations

from typing import Final

SNIFF_BYTES: Final = 64

# (offset, magic, mime); checked in order, first hit wins.
_SIGNATURES: Final[list[tuple[int, bytes, str]]] = [
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
]

# ISO base media (MP4, MOV, HEIC, AVIF, M4A): 'ftyp' at offset 4, brand at 8.
_FTYP_BRANDS: Final[dict[bytes, str]] = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"avif": "image/avif",
    b"M4A ": "audio/mp4",
    b"qt  ": "video/quicktime",
}


def sniff(head: bytes) -> str:
    """MIME type of a file from its first bytes (at least 16 are needed for most formats)."""
    if len(head) >= 12 and head[:4] == b"RIFF":
        form = head[8:12]
        if form == b"WAVE":
            return "audio/wav"
        if form == b"WEBP":
            return "image/webp"
        if form == b"AVI ":
            return "video/x-msvideo"
        return "application/octet-stream"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    is_jpeg = head[:3] == b"\xff\xd8\xff"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and not is_jpeg:
        return "audio/mpeg"  # an MPEG audio frame sync without an ID3 tag
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mime
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "application/json"
    if stripped[:1] == b"<":
        lowered = stripped[:64].lower()
        if lowered.startswith((b"<!doctype html", b"<html")):
            return "text/html"
        if b"<svg" in lowered or lowered.startswith(b"<?xml"):
            return "image/svg+xml" if b"<svg" in lowered else "application/xml"
    if head and _looks_like_text(head):
        return "text/plain"
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # The sniffed window may cut a multi-byte character at its end.
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return b"\x00" not in head


def kind_of(mime: str) -> str:
    """Coarse kind used by reports and matching: image, audio, video, document or data."""
    major = mime.split("/", 1)[0]
    if major in {"image", "audio", "video"}:
        return major
    if mime in {"application/pdf", "text/plain", "text/html"}:
        return "document"
    return "data"
