"""Safe, readable names for export folders and media files (pure functions).

Titles, file names and even conversation ids come from exports and are untrusted: a
name produced here is always one path component that is not `.` or `..`, has no path
separator, control or bidirectional-override character, is not a Windows reserved device
name (a folder synced to Windows must stay openable), does not start with a dot (no hidden
files) and fits comfortably in the 255-byte limit of common filesystems.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from datetime import UTC, datetime
from typing import Final

from mediasyncd.conversations.keys import file_id_in_name
from mediasyncd.store.digest import digest_bytes

# Characters no file name may hold on Windows, plus C0/C1 controls.
_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"/\\|?*]')
# Invisible characters that can make a name read differently from what it is.
_INVISIBLE: Final = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SPACES: Final = re.compile(r"\s+")
_DASHES: Final = re.compile(r"-{2,}")
_EXTENSION: Final = re.compile(r"^\.[A-Za-z0-9]{1,10}$")

WINDOWS_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{i}" for i in "123456789¹²³"}
    | {f"LPT{i}" for i in "123456789¹²³"}
)

SLUG_MAX_CHARS: Final = 60
SLUG_MAX_BYTES: Final = 120
NAME_MAX_BYTES: Final = 140
SHORT_ID_CHARS: Final = 8
UNTITLED: Final = "untitled"

# Extensions for the types mediasyncd sniffs, where mimetypes guesses oddly or not at all.
_EXT_BY_MIME: Final = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "image/svg+xml": ".svg",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
    "audio/mp4": ".m4a",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "video/x-msvideo": ".avi",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/gzip": ".gz",
    "application/json": ".json",
    "application/xml": ".xml",
    "text/plain": ".txt",
    "text/html": ".html",
    "application/octet-stream": ".bin",
}


def extension_for(mime: str) -> str:
    return _EXT_BY_MIME.get(mime) or mimetypes.guess_extension(mime) or ".bin"


def _truncate_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def _is_reserved(name: str) -> bool:
    # Windows reserves the device name whatever the extension: `con.tar.gz` is CON.
    return name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_RESERVED


def slugify(title: str | None) -> str:
    """A lower-case slug of letters and digits of any script; 'untitled' when none is left."""
    if not title:
        return UNTITLED
    text = unicodedata.normalize("NFKC", title).casefold()
    out: list[str] = []
    for ch in text:
        major = unicodedata.category(ch)[0]
        # Letters and digits; a combining mark (a Devanagari vowel sign) only on a letter,
        # so an emoji's variation selector does not survive alone.
        if major in "LN" or (major == "M" and out and out[-1] != "-"):
            out.append(ch)
        else:
            out.append("-")
    slug = _DASHES.sub("-", "".join(out)).strip("-")
    slug = slug[:SLUG_MAX_CHARS]
    slug = _truncate_bytes(slug, SLUG_MAX_BYTES).strip("-")
    return slug or UNTITLED


def short_id(identifier: str) -> str:
    """The first 8 letters/digits of an id (UUIDs read as their first group), else a hash."""
    kept = "".join(ch for ch in identifier if ch.isascii() and ch.isalnum()).lower()
    if len(kept) >= 4:
        return kept[:SHORT_ID_CHARS]
    return digest_bytes(identifier.encode("utf-8", "surrogatepass"))[:SHORT_ID_CHARS]


def long_id(identifier: str) -> str:
    """A second, longer tag for when two conversations would share a folder name."""
    return digest_bytes(identifier.encode("utf-8", "surrogatepass"))[:12]


def date_of(seconds: float | None) -> str:
    """YYYY-MM-DD in UTC, or 'undated' for a missing or impossible time."""
    if seconds is None:
        return "undated"
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "undated"


def folder_name(
    identifier: str, title: str | None, seconds: float | None, *, disambiguate: bool = False
) -> str:
    """`YYYY-MM-DD_<title slug>_<short id>`; with `disambiguate`, a hash of the id follows."""
    tag = short_id(identifier)
    if disambiguate:
        tag = f"{tag}-{long_id(identifier)}"
    return f"{date_of(seconds)}_{slugify(title)}_{tag}"


def is_safe_component(name: str) -> bool:
    """True for a name that can only ever mean one entry directly inside its folder."""
    return (
        bool(name)
        and name not in {".", ".."}
        and not name.startswith(".")
        and _UNSAFE.search(name) is None
        and len(name.encode("utf-8", "surrogatepass")) <= 255
    )


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _EXTENSION.match("." + ext):
        return stem, "." + ext
    return name, ""


def safe_file_name(name: str | None, mime: str) -> str | None:
    """A readable, safe file name from an untrusted one; None when nothing readable is left.

    Only the last path component counts (an attachment named `../../x` is `x`); the
    extension comes from the content type when the name has none or only `.dat`.
    """
    if not name:
        return None
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFC", base)
    base = _INVISIBLE.sub("", base)
    base = _UNSAFE.sub("_", base)
    base = _SPACES.sub(" ", base).strip(" .")
    if not base or set(base) <= {"_", " ", "."}:
        return None
    stem, ext = _split_extension(base)
    if not ext or ext.lower() == ".dat":
        ext = extension_for(mime)
    stem = stem.strip(" .") or "file"
    if _is_reserved(stem):
        stem = "_" + stem
    stem = _truncate_bytes(stem, NAME_MAX_BYTES - len(ext)).rstrip(" .") or "file"
    return stem + ext


def name_from_member(member_basename: str) -> tuple[int, str] | None:
    """A readable name from where a file was found, with its rank (lower is better).

    `file-<id>-IMG_0617.jpeg` gives `IMG_0617.jpeg` (rank 1); a plain name is itself
    (rank 1); a bare `file-<id>.png` is readable but says nothing (rank 3); `.dat` names
    are not names at all.
    """
    if not member_basename or member_basename.lower().endswith(".dat"):
        return None
    file_id = file_id_in_name(member_basename)
    if file_id is None:
        return 1, member_basename
    rest = member_basename[len(file_id) :]
    if rest[:1] in {"-", "_"} and len(rest) > 1:
        return 1, rest[1:]
    return 3, member_basename


def fallback_name(digest: str, mime: str) -> str:
    return f"{digest[:12]}{extension_for(mime)}"


def unique_names(wanted: list[tuple[str, str]]) -> dict[str, str]:
    """Digest -> final name, given (digest, wanted name) in display order.

    The first file to want a name keeps it; a later one with the same name (compared
    case-insensitively, for macOS and Windows) gets its digest's first 8 characters before
    the extension. The order is the conversation's own, so the result is deterministic.
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for digest, name in wanted:
        if digest in out:
            continue
        candidate = name
        if candidate.casefold() in taken:
            stem, ext = _split_extension(name)
            candidate = f"{stem}-{digest[:8]}{ext}"
            counter = 2
            while candidate.casefold() in taken:
                candidate = f"{stem}-{digest[:8]}-{counter}{ext}"
                counter += 1
        taken.add(candidate.casefold())
        out[digest] = candidate
    return out
