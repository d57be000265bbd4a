"""Garbage collection: remove objects nothing references, safely while ingests run.

What counts as referenced: an occurrence (a place the file was found, including each
source's manifest), a match, a source's `manifest_digest`, a conversation's document, or
a part of a kept recipe (mediasyncd.store.documents). Two kinds of garbage:
1. blob rows no occurrence, match or manifest names (a re-dropped source that lost
   members): the row, its `documents` and `file_cache` entries and the object go;
2. object files with no blob row at all (an ingest killed between writing the object and
   committing its row).
Either is removed only when the object file is older than the grace period
(`daemon.gc_grace_seconds`), like git's prune expiry: an ingest that just wrote an object
has not committed its row yet, and the grace period keeps that object.

An ingest that re-uses an *old* unreferenced object (a re-drop of content collected
earlier) is not protected by its age, so gc and ingest also exclude each other with a
lock file, `<state>/ingest.lock`: the daemon holds it shared for each ingest, gc holds it
exclusively. The per-shard check of case 2 runs inside a write transaction, so no ingest
can commit a row for an object between the check and the unlink.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mediasyncd.index import Index, objects
from mediasyncd.logconfig import get_logger
from mediasyncd.store import Store, versions

log = get_logger("mediasyncd.store.gc")

BATCH = 500
# The store's digest prefixes, one per shard.
SHARDS = tuple(f"{n:02x}" for n in range(256))
# How many removed digests a report lists (the counts are always complete).
LISTED = 1000


@dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    objects_removed: int = 0
    bytes_removed: int = 0
    blob_rows_removed: int = 0
    kept_in_grace: int = 0
    temp_files_removed: int = 0
    documents_superseded: int = 0
    removed: list[str] = field(default_factory=list)

    def note(self, digest: str, size: int) -> None:
        self.objects_removed += 1
        self.bytes_removed += size
        if len(self.removed) < LISTED:
            self.removed.append(digest)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def collect_garbage(
    index: Index,
    store: Store,
    *,
    grace_seconds: float,
    dry_run: bool = False,
    now: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_document_versions: str | int = "all",
) -> GcReport:
    """Remove (or with dry_run, count) unreferenced objects older than the grace period,
    after dropping the document versions `keep_document_versions` does not keep
    (mediasyncd.store.versions).

    The caller holds `ingest_lock(..., exclusive=True)`.
    """
    report = GcReport(dry_run=dry_run, grace_seconds=grace_seconds)
    cutoff = (time.time() if now is None else now) - grace_seconds

    def stopping() -> bool:
        return should_stop is not None and should_stop()

    keep = versions.keep_count(keep_document_versions)
    if keep is not None and not stopping():
        doomed = versions.superseded_recipes(index, keep)
        report.documents_superseded = len(doomed)
        if not dry_run:
            versions.drop_recipes(index, store, doomed)

    _collect_blob_rows(index, store, report, cutoff, dry_run, stopping)
    if not stopping():
        _collect_loose_objects(index, store, report, cutoff, dry_run, stopping)
    if not dry_run and not stopping():
        report.temp_files_removed = store.remove_stale_temp_files()
    log.info(
        "gc.done",
        dry_run=dry_run,
        objects_removed=report.objects_removed,
        bytes_removed=report.bytes_removed,
        blob_rows_removed=report.blob_rows_removed,
        kept_in_grace=report.kept_in_grace,
    )
    return report


def _age_ok(store: Store, digest: str, cutoff: float) -> tuple[bool, int | None]:
    """Whether the object is older than the cutoff (a missing file counts as old)."""
    found = store.stat(digest)
    if found is None:
        return True, None
    return found.mtime < cutoff, found.size


def _collect_blob_rows(
    index: Index,
    store: Store,
    report: GcReport,
    cutoff: float,
    dry_run: bool,
    stopping: Callable[[], bool],
) -> None:
    after = ""
    while not stopping():
        with index.write():
            rows = objects.unreferenced_blobs(index, after, BATCH)
            if not rows:
                return
            after = rows[-1][0]
            doomed: list[tuple[str, int]] = []
            for digest, size in rows:
                old, _ = _age_ok(store, digest, cutoff)
                if not old:
                    report.kept_in_grace += 1
                    continue
                doomed.append((digest, size))
            if not dry_run:
                for digest, _size in doomed:
                    objects.forget_blob(index, digest)
        # The rows are gone (committed) before the files: a crash in between leaves only
        # loose objects, which the next run removes as case 2.
        for digest, size in doomed:
            report.blob_rows_removed += 1
            if not dry_run:
                # Its plain copy and any compressed or recipe form of it.
                for location in store.locations(digest):
                    store.remove(location)
            report.note(digest, size)


def _collect_loose_objects(
    index: Index,
    store: Store,
    report: GcReport,
    cutoff: float,
    dry_run: bool,
    stopping: Callable[[], bool],
) -> None:
    for shard in SHARDS:
        if stopping():
            return
        # One shard at a time keeps memory bounded (1/256 of the store's digests), and
        # the write transaction keeps ingests from committing a row in between.
        with index.write():
            known = set(objects.blob_digests(index, shard, shard + "g"))
            for entry in store.iterate(shard):
                if entry.digest is None or entry.digest in known:
                    # Known, or not an object name at all (verify reports those).
                    continue
                if entry.mtime >= cutoff:
                    report.kept_in_grace += 1
                    continue
                if not dry_run:
                    store.remove(entry.location)
                report.note(entry.digest, entry.size)
