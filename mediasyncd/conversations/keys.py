"""The lookup keys a file can satisfy, read from where it was found (pure functions).

Keys are (kind, key, extra):
- ('file_id', id): the id a pointer or attachment names. It is read from a name only when it
  is followed by `-`, `_`, `.` or the end of the name, because a bare prefix test links
  `file-abc` to `file-abcd-photo.png`. `file-` and `file_` are kept as written: no tool
  converts one into the other. A UUID used as an id is kept in lower case.
  A rendered page of an attached document (`file-<docid>_data/file-<id>-<n>.jpg`, July
  2025) gets the document's id with extra 'document_page': it belongs to the message
  that attached the document, but it is not the document.
- ('conversation_dir', id): the file sits in a folder named by a conversation id.
- ('filename', name): the lower-cased file name, for weak text mentions.
- ('size', n): for a generated image that carries no id at all, its size in bytes.
- ('gen_id', id): a DALL·E generation folder's id.
`extra` says where a key came from (e.g. 'name', 'folder', 'dat_map'), which sets confidence.
"""

from __future__ import annotations

import re
from typing import Final

# Legacy upload ids are base62 (`file-UHjKtnmqDQTr43xgMJXxCt`); current ones are hex
# (`file_00000000aaaa1111bbbb2222cccc3333`, some voice pointers carry 96 hex digits).
_LEGACY_ID: Final = re.compile(r"^(file-[A-Za-z0-9]+)(?=[-_.]|$)")
_SEDIMENT_ID: Final = re.compile(r"^(file_[0-9a-f]+)(?=[-_.]|$)")
UUID_RE: Final = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
_GENERATION_DIR: Final = re.compile(r"^generation-([A-Za-z0-9]+)$")
_DOCUMENT_PAGES_DIR: Final = re.compile(r"^(file-[A-Za-z0-9]+|file_[0-9a-f]+)_data$")

Key = tuple[str, str, str | None]

# Folders that hold generated images with no id in their names.
_ID_LESS_GENERATED_PARENTS: Final = frozenset({"dalle-generations"})


def file_id_in_name(name: str) -> str | None:
    """The file id a member name starts with, or None."""
    for pattern in (_LEGACY_ID, _SEDIMENT_ID):
        match = pattern.match(name)
        if match:
            return match.group(1)
    return None


def normal_id(ident: str | None) -> str | None:
    """A file id as keys are kept: a UUID in lower case (2023 exports write some in upper
    case), any other id exactly as written (`file-` ids are case-sensitive base62)."""
    if ident is not None and is_uuid(ident):
        return ident.lower()
    return ident


def pointer_id(pointer: str) -> str | None:
    """`file-service://file-abc` → `file-abc`; `sediment://file_0a…` → `file_0a…`."""
    _, sep, rest = pointer.partition("://")
    ident = rest if sep else pointer
    ident = ident.strip().strip("/")
    return ident or None


def strip_nesting(member: str) -> list[str]:
    """Path components of the innermost member, dropping outer zip names."""
    inner = member.rsplit("!/", 1)[-1]
    return [part for part in inner.split("/") if part]


def is_uuid(text: str) -> bool:
    return bool(UUID_RE.match(text))


def keys_for_member(member: str, *, size: int, is_image: bool) -> list[Key]:
    """Every key a file at this member path can satisfy."""
    parts = strip_nesting(member)
    if not parts:
        return []
    name = parts[-1]
    folders = parts[:-1]
    keys: list[Key] = []
    file_id = file_id_in_name(name)
    pages_of = _DOCUMENT_PAGES_DIR.match(folders[-1]) if folders else None
    if pages_of:
        document = pages_of.group(1)
        keys.append(("file_id", document, "document_page"))
        if file_id and file_id != document:
            keys.append(("file_id", file_id, "name"))
        return keys
    if file_id:
        keys.append(("file_id", file_id, "name"))
    # Privacy Files archive: personal/files/user-xxx/<file_id>/<filename>.
    if len(folders) >= 2 and folders[-2].startswith("user-") and "files" in folders:
        keys.append(("file_id", normal_id(folders[-1]) or folders[-1], "folder"))
    stem = name.rsplit(".", 1)[0]
    if is_uuid(stem):
        keys.append(("file_id", stem.lower(), "uuid_name"))
    for folder in folders:
        if is_uuid(folder):
            keys.append(("conversation_dir", folder.lower(), "folder"))
        generation = _GENERATION_DIR.match(folder)
        if generation:
            keys.append(("gen_id", folder, "folder"))
            keys.append(("gen_id", generation.group(1), "folder"))
    original = _original_name(name, file_id)
    if original:
        keys.append(("filename", original.lower(), "name"))
    if is_image and file_id is None and _is_id_less_generated(folders):
        keys.append(("size", str(size), "id_less_generated"))
    return _dedupe(keys)


def keys_for_original_name(original: str, *, size: int, is_image: bool) -> list[Key]:
    """Keys that a map's original relative name (era C .dat map) gives to a file."""
    keys = [
        (kind, key, "dat_map" if extra in {"name", "folder", "id_less_generated"} else extra)
        for kind, key, extra in keys_for_member(original, size=size, is_image=is_image)
    ]
    return _dedupe(keys)


def _original_name(name: str, file_id: str | None) -> str | None:
    """`file-<id>-IMG_0617.jpeg` → `IMG_0617.jpeg`; `file-<id>.dat` → None (no name)."""
    if file_id is None:
        return name
    rest = name[len(file_id) :]
    if rest.startswith(("-", "_")) and len(rest) > 1:
        return rest[1:]
    return None


def _is_id_less_generated(folders: list[str]) -> bool:
    if any(folder in _ID_LESS_GENERATED_PARENTS for folder in folders):
        return True
    if "dallelabs" in folders:
        return True
    return any(_GENERATION_DIR.match(folder) for folder in folders)


def _dedupe(keys: list[Key]) -> list[Key]:
    seen: dict[tuple[str, str], Key] = {}
    for key in keys:
        seen.setdefault((key[0], key[1]), key)
    return list(seen.values())
