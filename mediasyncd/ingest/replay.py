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

from mediasyncd import kinds
from mediasyncd.config import Config
from mediasyncd.index import Index, aliases, objects, open_index, sources, status
from mediasyncd.index.location import parse_location
from mediasyncd.index.sqlite import INDEX_NAME, move_aside
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.logconfig import get_logger
from mediasyncd.sources.base import InterpretContext, SourceHandler, StoredOccurrence
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult, Store
from mediasyncd.store.digest import CHUNK_SIZE
from mediasyncd.store.locks import sole_writer
from mediasyncd.store.manifest import MANIFEST_MEMBER, Manifest, find_manifests, read_manifest
from mediasyncd.store.mediatype import SNIFF_BYTES, sniff

log = get_logger("mediasyncd.ingest.replay")


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
    location = parse_location(config.index.url)
    if location.is_postgres:
        return _reindex_shared(location.url, state_dir, config, store)
    with sole_writer(state_dir):
        index_path = state_dir / INDEX_NAME
        previous = move_aside(index_path)
        index = open_index(
            index_path,
            synchronous=config.index.synchronous,
            busy_timeout_ms=config.index.busy_timeout_ms,
        )
        try:
            return _rebuild(index, str(previous) if previous else None, state_dir, config, store)
        finally:
            index.close()


def _reindex_shared(url: str, state_dir: Path, config: Config, store: Store) -> ReindexSummary:
    """PostgreSQL: refused while any worker runs or ingests (advisory locks, held on the
    connection that rebuilds); the old schema is renamed aside, never dropped."""
    from mediasyncd.coordination import AdvisoryLocks
    from mediasyncd.index import pg_schema
    from mediasyncd.index.postgres import PostgresIndex, connect, set_aside

    index = PostgresIndex(connect(url, busy_timeout_ms=config.index.busy_timeout_ms), url)
    try:
        with AdvisoryLocks(index, url).sole_writer():
            previous = set_aside(index)
            pg_schema.migrate(index)
            kept = f"{url} (schema {previous})" if previous else None
            return _rebuild(index, kept, state_dir, config, store)
    finally:
        index.close()


def _rebuild(
    index: Index, previous: str | None, state_dir: Path, config: Config, store: Store
) -> ReindexSummary:
    """Replay every source's newest manifest into the new, empty `index`."""
    started = time.monotonic()
    summary = ReindexSummary(previous_index=previous)
    manifests: dict[str, tuple[Manifest, str]] = {}
    for digest in find_manifests(store):
        manifest = read_manifest(store, digest)
        current = manifests.get(manifest.source)
        if current is None or (manifest.ingested, digest) > (current[0].ingested, current[1]):
            manifests[manifest.source] = (manifest, digest)
    ordered = sorted(manifests.values(), key=lambda item: (item[0].ingested, item[0].source))
    for manifest, digest in ordered:
        _replay(index, store, config, state_dir, manifest, digest, summary)
        summary.sources += 1
    for matcher in kinds.all_matchers(config):
        matcher.rematch(index, None)
    summary.matches = status.match_count(index)
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
    if _replay_copy(index, store, row, manifest, manifest_digest):
        return
    failures = list(manifest.failures)
    with index.write():
        stored = _record_members(ingester, handler, row, manifest, failures, summary)
        _record_manifest(index, store, row, manifest_digest)
        sources.replace_member_failures(index, row.id, failures)
        aliases.set_content(index, row.id, manifest.content)
    ctx = InterpretContext(index, store, config, row.id, Path(manifest.source), stored)
    handler.interpret(ctx)
    if ctx.failures or ctx.notes:
        with index.write():
            sources.replace_member_failures(index, row.id, failures + ctx.failures, ctx.notes)
    state = ingester.conclude(row, len(stored))
    log.info("reindex.source", source=manifest.source, members=len(stored), state=state)


def _record_manifest(
    index: Index, store: Store, row: sources.SourceRow, manifest_digest: str
) -> None:
    size = store.size_of(manifest_digest) or 0
    objects.record_blob(index, manifest_digest, size, "application/json", None)
    objects.record_occurrence(
        index, row.id, MANIFEST_MEMBER, manifest_digest, "other", size, None, row.run
    )
    sources.set_manifest(index, row.id, manifest_digest)


def _replay_copy(
    index: Index, store: Store, row: sources.SourceRow, manifest: Manifest, manifest_digest: str
) -> bool:
    """A copy of another drop becomes its alias again when that drop was rebuilt with the
    same content; otherwise it is replayed from the members its manifest lists."""
    if manifest.same_as is None or manifest.content is None:
        return False
    original = aliases.original_with_content(index, manifest.content, manifest.source)
    if original is None:
        return False
    with index.write():
        _record_manifest(index, store, row, manifest_digest)
        sources.replace_member_failures(index, row.id, manifest.failures)
        aliases.set_content(index, row.id, manifest.content)
        aliases.make_alias(index, row.id, original)
    log.info("reindex.source", source=manifest.source, same_as=original.path)
    return True


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
    present: list[tuple[Member, PutResult]] = []
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
        present.append((member, _describe(store, entry.digest, handler.want_sha256(member))))
        summary.members += 1
    return ingester.members.record_batch(row, handler, present, set())


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
