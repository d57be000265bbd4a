"""Source manifests: the store's own record of what each drop held.

After a drop's members are durable, a manifest (one JSON object: the source, its kind and
fingerprint, and every member with its digest) is written into the store like any other
object and recorded as an occurrence of the source (`.mediasyncd/manifest.json`). With the
JSON documents the drop carried also in the store, the manifests are enough to rebuild
`index.db` from the store alone (`mediasyncd reindex`), even if every drop was deleted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mediasyncd.store.base import PutResult, Store

MANIFEST_MEMBER: Final = ".mediasyncd/manifest.json"
MAGIC: Final = '{"mediasyncd_manifest": 1'
FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class ManifestMember:
    member: str
    digest: str
    role: str
    size: int
    crc32: int | None
    mtime_ns: int | None


@dataclass(frozen=True)
class Manifest:
    source: str
    kind: str
    fingerprint: str
    ingested: str
    is_dir: bool
    members: list[ManifestMember]
    failures: list[tuple[str | None, str]]
    # Size and whole-file digest of a file drop; for a copy of another drop
    # (mediasyncd.index.aliases) that drop's path, whose members these are.
    content: str | None = None
    same_as: str | None = None


def write_manifest(store: Store, manifest: Manifest, spool_dir: Path) -> PutResult:
    """Stream the manifest to a temp file (it can list a million members), then store it."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        # The magic prefix comes first so reindex can recognise manifests by 32 bytes.
        header = {
            "source": manifest.source,
            "kind": manifest.kind,
            "fingerprint": manifest.fingerprint,
            "ingested": manifest.ingested,
            "is_dir": manifest.is_dir,
            "format": FORMAT_VERSION,
        }
        if manifest.content is not None:
            header["content"] = manifest.content
        if manifest.same_as is not None:
            header["same_as"] = manifest.same_as
        spool.write(f"{MAGIC}, ".encode())
        spool.write(json.dumps(header)[1:-1].encode("utf-8"))
        spool.write(b', "failures": ')
        spool.write(json.dumps([list(f) for f in manifest.failures]).encode("utf-8"))
        spool.write(b', "members": [')
        for position, member in enumerate(manifest.members):
            if position:
                spool.write(b",")
            row = [
                member.member,
                member.digest,
                member.role,
                member.size,
                member.crc32,
                member.mtime_ns,
            ]
            spool.write(json.dumps(row).encode("utf-8"))
        spool.write(b"]}")
        spool.flush()
        spool.seek(0)
        return store.put_stream(spool)


def is_manifest(head: bytes) -> bool:
    return head.startswith(MAGIC.encode())


def read_manifest(store: Store, digest: str) -> Manifest:
    with store.open(digest) as handle:
        data: dict[str, Any] = json.load(handle)
    return Manifest(
        source=str(data["source"]),
        kind=str(data["kind"]),
        fingerprint=str(data.get("fingerprint") or ""),
        ingested=str(data.get("ingested") or ""),
        is_dir=bool(data.get("is_dir")),
        members=[ManifestMember(m[0], m[1], m[2], int(m[3]), m[4], m[5]) for m in data["members"]],
        failures=[(f[0], f[1]) for f in data.get("failures", [])],
        same_as=data.get("same_as"),
        content=data.get("content"),
    )


def find_manifests(store: Store) -> Iterator[str]:
    """The digest of every manifest object in the store, found by its first bytes."""
    probe = len(MAGIC)
    for entry in store.iterate():
        if entry.digest is None:
            continue
        try:
            with store.open_location(entry.location) as handle:
                head = handle.read(probe)
        except OSError:
            continue
        if is_manifest(head):
            yield entry.digest
