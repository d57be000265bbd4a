"""`mediasyncd reindex`: rebuild index.db from the store alone.

The store holds every drop's manifest and every JSON document the drops carried, so the
index is a cache of the store: this replays each source's manifest (newest manifest per
source path, in the order they were ingested), re-derives keys and documents exactly as
an ingest does, and ends with one full rematch. The old index is kept beside the new one
(`index.db.before-reindex-<time>`), never deleted. It is refused while the daemon runs or
an ingest writes: it takes both their locks for the whole rebuild.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from mediasyncd import kinds
from mediasyncd.config import Config
from mediasyncd.index import Index, objects, open_index, sources, status
from mediasyncd.index.sqlite import INDEX_NAME, move_aside
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.sources.base import InterpretContext, SourceHandler, StoredOccurrence
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult, Store
from mediasyncd.store.digest import CHUNK_SIZE
from mediasyncd.store.locks import sole_writer
from mediasyncd.store.manifest import MANIFEST_MEMBER, Manifest, find_manifests, read_manifest
from mediasyncd.store.mediatype import SNIFF_BYTES, sniff

log = structlog.get_logger("mediasyncd.ingest.replay")


@dataclass
class ReindexSummary:
    sources: int = 0
    members: int = 0
    missing_objects: list[str] = field(default_factory=list)
    superseded: int = 0
    matches: int = 0
    previous_index: str | None = None
    seconds: float = 0.0


def reindex(state_dir: Path, config: Config, store: Store) -> ReindexSummary:
    """Rebuild the index (refused while the daemon or an ingest holds it)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with sole_writer(state_dir):
        return _rebuild(state_dir, config, store)


def _rebuild(state_dir: Path, config: Config, store: Store) -> ReindexSummary:
    started = time.monotonic()
    summary = ReindexSummary()
    manifests: dict[str, tuple[Manifest, str]] = {}
    for digest in find_manifests(store):
        manifest = read_manifest(store, digest)
        current = manifests.get(manifest.source)
        if current is None or (manifest.ingested, digest) > (current[0].ingested, current[1]):
            manifests[manifest.source] = (manifest, digest)
    index_path = state_dir / INDEX_NAME
    previous = move_aside(index_path)
    summary.previous_index = str(previous) if previous else None
    index = open_index(
        index_path,
        synchronous=config.index.synchronous,
        busy_timeout_ms=config.index.busy_timeout_ms,
    )
    try:
        ordered = sorted(manifests.values(), key=lambda item: (item[0].ingested, item[0].source))
        for manifest, digest in ordered:
            _replay(index, store, config, state_dir, manifest, digest, summary)
            summary.sources += 1
        for matcher in kinds.all_matchers(config):
            matcher.rematch(index, None)
        summary.matches = status.match_count(index)
    finally:
        index.close()
    summary.seconds = time.monotonic() - started
    return summary


def _replay(
    index: Index,
    store: Store,
    config: Config,
    state_dir: Path,
    manifest: Manifest,
    manifest_digest: str,
    summary: ReindexSummary,
) -> None:
    """One source as its manifest recorded it: members, documents, state."""
    handler = kinds.handler_of_kind(manifest.kind, config)
    ingester = Ingester(index, store, config, state_dir)
    with index.write():
        row = sources.begin_source_run(
            index,
            manifest.source,
            is_dir=manifest.is_dir,
            size=None,
            mtime_ns=None,
            inode=None,
            device=None,
            fingerprint=manifest.fingerprint,
        )
        sources.set_source_kind(index, row.id, handler.kind)
    failures = list(manifest.failures)
    with index.write():
        stored = _record_members(ingester, handler, row, manifest, failures, summary)
        size = store.size_of(manifest_digest) or 0
        objects.record_blob(index, manifest_digest, size, "application/json", None)
        objects.record_occurrence(
            index, row.id, MANIFEST_MEMBER, manifest_digest, "other", size, None, row.run
        )
        sources.set_manifest(index, row.id, manifest_digest)
        sources.replace_member_failures(index, row.id, failures)
    ctx = InterpretContext(index, store, config, row.id, Path(manifest.source), stored)
    handler.interpret(ctx)
    if ctx.failures or ctx.notes:
        with index.write():
            sources.replace_member_failures(index, row.id, failures + ctx.failures, ctx.notes)
    state = ingester.conclude(row, len(stored))
    log.info("reindex.source", source=manifest.source, members=len(stored), state=state)


def _record_members(
    ingester: Ingester,
    handler: SourceHandler,
    row: sources.SourceRow,
    manifest: Manifest,
    failures: list[tuple[str | None, str]],
    summary: ReindexSummary,
) -> list[StoredOccurrence]:
    """Record each member the store still holds, as its ingest did; a missing object is
    a failure of its source."""
    store = ingester.store
    stored: list[StoredOccurrence] = []
    changed: set[tuple[str, str]] = set()
    for entry in manifest.members:
        if not store.has(entry.digest):
            if store.superseded(entry.digest):
                # gc dropped this document: newer ones hold every conversation it held.
                summary.superseded += 1
                continue
            summary.missing_objects.append(entry.digest)
            failures.append((entry.member, f"object {entry.digest} is missing from the store"))
            continue
        member = Member(
            path=entry.member,
            size=entry.size,
            opener=lambda digest=entry.digest: store.open(digest),  # type: ignore[misc]
            crc32=entry.crc32,
            mtime_ns=entry.mtime_ns,
        )
        result = _describe(store, entry.digest, handler.want_sha256(member))
        stored.append(ingester.members.record(row, handler, member, result, changed))
        summary.members += 1
    return stored


def _describe(store: Store, digest: str, want_sha256: bool) -> PutResult:
    """What an ingest would have learnt while streaming the object: type, size, SHA-256."""
    size = store.size_of(digest) or 0
    with store.open(digest) as handle:
        head = handle.read(SNIFF_BYTES)
        if not want_sha256:
            return PutResult(digest, size, False, sniff(head), None)
        sha = hashlib.sha256(head)
        while chunk := handle.read(CHUNK_SIZE):
            sha.update(chunk)
    return PutResult(digest, size, False, sniff(head), sha.digest())
