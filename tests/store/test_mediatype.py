"""Media types from magic bytes, never from names; RIFF and ISO-BMFF told apart by form."""

from __future__ import annotations

import pytest

from mediasyncd.store.mediatype import kind_of, sniff


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF87a....", "image/gif"),
        (b"GIF89a....", "image/gif"),
        (b"BM\x00\x00", "image/bmp"),
        (b"II*\x00\x08\x00", "image/tiff"),
        (b"MM\x00*\x00\x08", "image/tiff"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64", "audio/mpeg"),  # MPEG frame sync, no ID3 tag
        (b"OggS\x00\x02", "audio/ogg"),
        (b"fLaC\x00\x00", "audio/flac"),
        (b"\x1aE\xdf\xa3\x01", "video/webm"),
        (b"PK\x03\x04\x14\x00", "application/zip"),
        (b"PK\x05\x06" + b"\x00" * 18, "application/zip"),
        (b"\x1f\x8b\x08\x00", "application/gzip"),
    ],
)
def test_magic_signatures(head: bytes, mime: str) -> None:
    """Each known signature maps to its MIME type."""
    assert sniff(head) == mime


@pytest.mark.parametrize(
    ("form", "mime"),
    [
        (b"WAVE", "audio/wav"),
        (b"WEBP", "image/webp"),
        (b"AVI ", "video/x-msvideo"),
        (b"XXXX", "application/octet-stream"),
    ],
)
def test_riff_form_decides(form: bytes, mime: str) -> None:
    """RIFF...WAVE is audio and RIFF...WEBP an image: the form type at offset 8 decides
    (an importer once shipped WAV voice clips as broken WebP by looking only at RIFF)."""
    assert sniff(b"RIFF\x24\x00\x00\x00" + form + b"fmt ") == mime


@pytest.mark.parametrize(
    ("brand", "mime"),
    [
        (b"heic", "image/heic"),
        (b"heix", "image/heic"),
        (b"mif1", "image/heif"),
        (b"avif", "image/avif"),
        (b"M4A ", "audio/mp4"),
        (b"qt  ", "video/quicktime"),
        (b"isom", "video/mp4"),
        (b"mp42", "video/mp4"),
    ],
)
def test_iso_bmff_brand_decides(brand: bytes, mime: str) -> None:
    """'ftyp' at offset 4 is ISO base media; the major brand names the format."""
    assert sniff(b"\x00\x00\x00\x20ftyp" + brand + b"\x00\x00\x00\x00") == mime


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b'  {"title": "x"}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"<!DOCTYPE html><html>", "text/html"),
        (b"<html><body>", "text/html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        (b'<?xml version="1.0"?><svg>', "image/svg+xml"),
        (b'<?xml version="1.0"?><root/>', "application/xml"),
        (b"plain words here\n", "text/plain"),
        ("caf\u00e9 \u2603".encode() * 10, "text/plain"),
        (b"\x00\x01\x02\x03binary", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_text_formats_and_fallback(head: bytes, mime: str) -> None:
    """JSON, HTML, SVG, XML and text are told apart; anything else is octet-stream."""
    assert sniff(head) == mime


def test_text_cut_inside_a_multibyte_character_is_still_text() -> None:
    """The 64-byte window may end inside a UTF-8 character; that is still text."""
    text = ("x" * 62 + "\u2603").encode()  # the snowman's 3 bytes straddle byte 64
    assert sniff(text[:64]) == "text/plain"


def test_short_riff_is_not_misread() -> None:
    """A RIFF header too short to carry a form type falls back safely."""
    assert sniff(b"RIFF") in {"text/plain", "application/octet-stream"}


def test_name_plays_no_part() -> None:
    """sniff takes only bytes: a WAV is audio even if some exporter called it .webp."""
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt "
    assert sniff(wav) == "audio/wav"


@pytest.mark.parametrize(
    ("mime", "kind", "media"),
    [
        ("image/png", "image", True),
        ("audio/wav", "audio", True),
        ("video/mp4", "video", True),
        ("application/pdf", "document", True),
        ("text/plain", "document", True),
        ("text/html", "document", True),
        ("application/json", "data", False),
        ("application/zip", "data", False),
        ("application/octet-stream", "data", False),
    ],
)
def test_kind_and_is_media(mime: str, kind: str, media: bool) -> None:
    """Coarse kinds drive orphan counts and matching: image, audio, video and document
    are media (what `status` counts as an orphan), the rest is data."""
    assert kind_of(mime) == kind
    assert (kind in {"image", "audio", "video", "document"}) is media
