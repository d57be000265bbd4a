"""Whether a 2026 ChatGPT export arrived whole: its `export_manifest.json` against the
files actually stored.

The manifest lists every file of the export (`export_files`: `{path, size_bytes}`), and
`logical_files` groups the shards of one logical file (`sharded`, `shard_count`, and the
shard names when given). In a multi-part export the first part's manifest lists every
part's files, so a drop of that part alone lacks the others: it is `partial`, with the
missing names as its problems.

"Arrived later" is decided by the files themselves, not by drop names: a named file is
present once any stored drop holds a member at that path (the same last components,
inside any folder or nested zip) with the size the manifest gives. A later part carries
no manifest of its own, so nothing else could tie it to the export; the path and size
of a ChatGPT export file (`file_<id>.dat`, `conversations-003.json`) are specific enough.
When the missing files arrive, the manifest's drop becomes `ok` (unless it has problems
of its own). Each ingest checks only the open entries whose names its own members
carry, so this stays incremental.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from mediasyncd.index import Index, expected

MANIFEST_NAME: Final = "export_manifest.json"
# Missing names listed one by one; beyond this, one problem gives the count.
LISTED: Final = 1000
_SHARD: Final = re.compile(r"^(?P<stem>.+?)(?P<ext>\.[^./]+)?$")


@dataclass(frozen=True)
class Expected:
    path: str
    size: int | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def expected_files(manifest: Any) -> list[Expected]:
    """Every file a manifest names; shapes it does not know add nothing."""
    if not isinstance(manifest, dict):
        return []
    found: dict[str, Expected] = {}
    for entry in _list(manifest.get("export_files")):
        _add(found, _entry_path(entry), _entry_size(entry))
    logical = manifest.get("logical_files")
    items: Iterable[tuple[Any, Any]]
    if isinstance(logical, dict):
        items = logical.items()
    else:
        items = ((_entry_path(e), e) for e in _list(logical))
    for name, spec in items:
        for path in _logical_paths(name, spec):
            _add(found, path, None)
    return sorted(found.values(), key=lambda e: e.path)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _entry_path(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        for key in ("path", "name", "file", "logical_path"):
            if isinstance(entry.get(key), str):
                return str(entry[key])
    return None


def _entry_size(entry: Any) -> int | None:
    if isinstance(entry, dict):
        size = entry.get("size_bytes", entry.get("size"))
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            return size
    return None


def _logical_paths(name: Any, spec: Any) -> Iterator[str]:
    """The files one logical file stands for: its shards when sharded, else itself."""
    if not isinstance(spec, dict):
        if isinstance(name, str):
            yield name
        return
    files = [f for f in (_entry_path(e) for e in _list(spec.get("files"))) if f]
    yield from files
    count = spec.get("shard_count")
    if spec.get("sharded") is True and isinstance(count, int) and not isinstance(count, bool):
        if files or not isinstance(name, str):
            return  # the manifest named the shards itself
        # Shards are numbered from 000: conversations.json -> conversations-000.json.
        match = _SHARD.match(name.rsplit("/", 1)[-1])
        if match is None:
            return
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        for number in range(min(count, 100_000)):
            yield f"{folder}{match['stem']}-{number:03d}{match['ext'] or ''}"
    elif not files and isinstance(name, str) and spec.get("sharded") is not True:
        yield name


def _add(found: dict[str, Expected], path: str | None, size: int | None) -> None:
    if not path:
        return
    clean = path.replace("\\", "/").lstrip("/")
    if not clean or clean.endswith("/") or ".." in clean.split("/"):
        return
    if clean == MANIFEST_NAME:
        return
    previous = found.get(clean)
    if size is None and previous is not None:
        size = previous.size
    found[clean] = Expected(clean, size)


# -- the index ---------------------------------------------------------------------------


def record_expected(index: Index, source_id: int, entries: Iterable[Expected]) -> None:
    """Replace what this source's manifest names, and mark what is already stored."""
    expected.record_expected(index, source_id, ((e.path, e.name, e.size) for e in entries))


def missing_problems(index: Index, source_id: int) -> list[tuple[str | None, str]]:
    """(member, error) for each missing file (the first LISTED, then a count)."""
    paths = expected.missing_paths(index, source_id, LISTED + 1)
    problems: list[tuple[str | None, str]] = [
        (path, f"named by {MANIFEST_NAME} but in no drop yet") for path in paths[:LISTED]
    ]
    if len(paths) > LISTED:
        rest = expected.missing_count(index, source_id) - LISTED
        problems.append((None, f"and {rest} more files named by {MANIFEST_NAME} are missing"))
    return problems
