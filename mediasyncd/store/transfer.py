"""Copying a store into another (`mediasyncd migrate --to-store URL`): the local store
into an S3 bucket, resumably, verifying each object, leaving the source untouched.

Each object is read once from the source and put into the target, which hashes it while
it streams: the bytes sent must hash (XXH3-128) to the object's name, or the source copy
is damaged and is not copied (run `mediasyncd verify`); the S3 store sends them with
their SHA-256, which the server checks before it keeps them. An object the target has
already (a migration that was killed, or an earlier one) is read back from the target and
re-hashed rather than trusted. Objects go in digest order, and every `CHECKPOINT_EVERY`
objects the last verified digest is written to `<state>/migrate-store-<target>.json`: a
run that was killed resumes after it. At the end every digest the index names is looked
for in the target (one listing per shard), so an object missing from both stores, or
written by an ingest during the copy, is reported, not assumed.

Documents the local store keeps compressed (`.z`) or as recipes (`.r`) are sent as their
original bytes, decoded on the way, when the target keeps every object plainly (S3): the
target holds the object its name promises. A document gc superseded (a tombstone `.s`
stands for it) has no bytes left to send; it is counted, not reported missing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from mediasyncd.errors import StoreError
from mediasyncd.index import Index, objects
from mediasyncd.logconfig import get_logger
from mediasyncd.store import documents
from mediasyncd.store.base import Store, StoredObject
from mediasyncd.store.digest import CHUNK_SIZE, new_hasher
from mediasyncd.store.gc import SHARDS

log = get_logger("mediasyncd.store.transfer")

CHECKPOINT_EVERY: Final = 100
# How many problems a report lists (the counts are always complete).
LISTED: Final = 1000


@dataclass
class MigrateReport:
    target: str
    total: int = 0  # every object of the source store
    copied: int = 0
    bytes_copied: int = 0
    already_there: int = 0
    skipped_before_checkpoint: int = 0
    resumed_after: str | None = None
    problems: list[dict[str, str]] = field(default_factory=list)
    problem_count: int = 0
    missing_in_target: int = 0
    # Documents gc dropped on purpose (tombstones): nothing to copy.
    superseded: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0 and self.missing_in_target == 0

    def problem(self, where: str, what: str) -> None:
        self.problem_count += 1
        if len(self.problems) < LISTED:
            self.problems.append({"object": where, "problem": what})

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def store_root(store: Store) -> str:
    """Where a store's objects are (`<state>/objects`, `s3://BUCKET/PREFIX`)."""
    return store.location("0" * 32).rsplit("/", 2)[0]


def checkpoint_path(state_dir: Path, target: Store) -> Path:
    name = hashlib.sha256(store_root(target).encode()).hexdigest()[:16]
    return state_dir / f"migrate-store-{name}.json"


def migrate_store(
    source: Store,
    target: Store,
    *,
    index: Index,
    state_dir: Path,
    on_object: Callable[[MigrateReport], None] | None = None,
) -> MigrateReport:
    """Copy every object of `source` into `target` (see the module docstring)."""
    started = time.monotonic()
    report = MigrateReport(target=store_root(target))
    progress = checkpoint_path(state_dir, target)
    after = _read_checkpoint(progress)
    report.resumed_after = after
    since_checkpoint = 0
    for entry in source.iterate():
        if entry.digest is None:
            report.problem(entry.location, "not named by a digest: not copied (run verify)")
            continue
        report.total += 1
        if after is not None and entry.digest <= after:
            report.skipped_before_checkpoint += 1
            continue
        _copy_one(source, target, entry, report)
        since_checkpoint += 1
        # Only a clean stretch moves the checkpoint: a problem is tried again next run.
        if since_checkpoint >= CHECKPOINT_EVERY and report.problem_count == 0:
            _write_checkpoint(progress, entry.digest)
            since_checkpoint = 0
        if on_object is not None:
            on_object(report)
    _check_index_against_target(index, source, target, report)
    if report.ok:
        progress.unlink(missing_ok=True)
    report.seconds = time.monotonic() - started
    log.info(
        "migrate.done",
        target=report.target,
        copied=report.copied,
        already_there=report.already_there,
        problems=report.problem_count,
        missing_in_target=report.missing_in_target,
    )
    return report


def _copy_one(source: Store, target: Store, entry: StoredObject, report: MigrateReport) -> None:
    digest = entry.digest
    assert digest is not None
    if entry.form == documents.TOMBSTONE:
        report.superseded += 1
        return
    try:
        found = target.stat(digest)
        # A document kept in another form: its original size and bytes, not the form's.
        original = source.stat(digest) if entry.form else None
        size = original.size if original is not None else entry.size
        if found is not None and found.size == size and _hashes_to(target, digest):
            report.already_there += 1
            return
        opened = source.open(digest) if entry.form else source.open_location(entry.location)
        with opened as stream:
            # The target's index is not told about the object: whatever the target holds
            # under its name is checked before it counts as a hit.
            result = target.put_stream(stream, known=lambda _digest: False)
    except (OSError, StoreError) as exc:
        report.problem(entry.location, f"not copied: {exc}")
        return
    if result.digest != digest:
        # The source copy is damaged: what went up is not this object.
        if result.new:
            target.remove(target.location(result.digest))
        report.problem(entry.location, f"damaged in the source (hashes to {result.digest})")
        return
    if result.new:
        report.copied += 1
        report.bytes_copied += result.size
    else:
        report.already_there += 1


def _hashes_to(store: Store, digest: str) -> bool:
    hasher = new_hasher()
    try:
        with store.open(digest) as handle:
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)
    except (OSError, StoreError):
        return False
    return hasher.hexdigest() == digest


def _check_index_against_target(
    index: Index, source: Store, target: Store, report: MigrateReport
) -> None:
    """Every digest the index names is in the target (one shard in memory at a time),
    but for documents the source holds only a tombstone of."""
    for shard in SHARDS:
        with index.read():
            wanted = objects.blob_digests(index, shard, shard + "g")
        if not wanted:
            continue
        present = {entry.digest for entry in target.iterate(shard)}
        for digest in wanted:
            if digest not in present and not source.superseded(digest):
                report.missing_in_target += 1
                report.problem(
                    target.location(digest), "the index names this object; it is not in the target"
                )


def _read_checkpoint(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    after = data.get("after") if isinstance(data, dict) else None
    return after if isinstance(after, str) else None


def _write_checkpoint(path: Path, digest: str) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps({"after": digest}), encoding="utf-8")
    temp.replace(path)
