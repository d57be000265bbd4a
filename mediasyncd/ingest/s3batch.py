"""Ingesting one batch of new objects of a watched S3 prefix, as an image-dump drop.

A batch (mediasyncd.index.s3_watch) is one source, named `s3://BUCKET/PREFIX/#<batch>`.
Its members are the objects, named `BUCKET/KEY`: the layout a folder made by
`aws s3 sync s3://BUCKET/ BUCKET/` has, so the image-dump reader places them by the very
rules it applies to such a folder (`images.prefix` and `images.user_id_position`, found
in the key or in the bucket name). Each object is streamed from its GET straight into
the store (no local copy but the store's own spool). Beside them the batch stores what
the listing said, as the `aws s3api list-objects-v2` listing a dump may carry
(`.mediasyncd/s3-listing.json`: Key, LastModified, Size, ETag), so each photo's time is
its LastModified by the reader's own first rule, and a reindex finds it again in the
store. The run then goes as any drop's: manifest, interpretation, incremental rematch,
outcome.

A bucket that cannot be read (the network, a 5xx, credentials) is not the batch's fault:
`BucketUnreachable` leaves it pending for the next poll. An object deleted between the
listing and its GET is recorded as a problem of the batch (it is gone; nothing to retry).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, cast

from mediasyncd import kinds
from mediasyncd.errors import CollisionError, IngestInterrupted, SourceError
from mediasyncd.index import objects, sources
from mediasyncd.index.s3_watch import ListedObject
from mediasyncd.ingest.members import manifest_entries
from mediasyncd.ingest.pipeline import Ingester, IngestSummary
from mediasyncd.logconfig import get_logger
from mediasyncd.s3.reader import open_object
from mediasyncd.s3.url import S3Url
from mediasyncd.sources.base import InterpretContext, StoredOccurrence
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult, SizeLimit
from mediasyncd.store.manifest import Manifest, ManifestMember
from mediasyncd.timeutil import utc_now_iso
from mediasyncd.traces.image_dump import place
from mediasyncd.traces.langfuse import is_image_name

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = get_logger("mediasyncd.ingest.s3")

LISTING_MEMBER: Final = ".mediasyncd/s3-listing.json"
KIND: Final = "image_dump"
BATCH: Final = 500


class BucketUnreachable(SourceError):
    """The watched bucket could not be read now; the batch is tried again next poll."""


def batch_source(url: S3Url, batch: str) -> str:
    return f"{url}#{batch}"


class S3BatchIngester(Ingester):
    """An Ingester whose drop is a batch of S3 objects instead of a path."""

    def ingest_batch(
        self,
        client: S3Client,
        url: S3Url,
        batch: str,
        found: list[ListedObject],
        summary: IngestSummary,
    ) -> str:
        """Ingest the batch; returns its state ('ok', 'partial', 'failed' or 'pending')."""
        path = batch_source(url, batch)
        handler = kinds.handler_of_kind(KIND, self.config)
        fingerprint = _fingerprint(found)
        with self.index.write():
            row = sources.begin_source_run(
                self.index,
                path,
                is_dir=True,
                size=sum(o.size for o in found),
                mtime_ns=None,
                inode=None,
                device=None,
                fingerprint=fingerprint,
            )
            sources.set_source_kind(self.index, row.id, handler.kind)
        try:
            state = self._run_batch(client, url, path, row, handler, found, summary, fingerprint)
        except _STOPPING as exc:
            # A collision needs a person (the batch fails); anything else is tried again.
            state = "failed" if isinstance(exc, CollisionError) else "pending"
            reason = exc.reason if isinstance(exc, SourceError) else str(exc)
            member = exc.member if isinstance(exc, SourceError) else None
            with self.index.write():
                sources.finish_source(self.index, row.id, state=state, error=reason)
            summary.failures.append(_failure(path, member, reason))
            summary.sources.append({"path": path, "kind": handler.kind, "state": state})
            log.warning("s3.batch_stopped", source=path, state=state, error=reason, member=member)
            return state
        return state

    def _run_batch(
        self,
        client: S3Client,
        url: S3Url,
        path: str,
        row: sources.SourceRow,
        handler: Any,
        found: list[ListedObject],
        summary: IngestSummary,
        fingerprint: str,
    ) -> str:
        run = _BatchRun(path, row, handler)
        listed = self._store_objects(run, client, url, found, summary)
        if listed:
            listing = Member(LISTING_MEMBER, 0, lambda: io.BytesIO(b""))
            result = self.store.put_stream(
                io.BytesIO(_listing(url, listed)), known=self._known_object
            )
            run.pending.append((listing, result))
        self._flush_batch(run)
        manifest = Manifest(
            path, handler.kind, fingerprint, utc_now_iso(), True, run.manifest, run.failures
        )
        self.record_manifest(row, manifest)
        return self._interpret_batch(run, summary)

    def _store_objects(
        self,
        run: _BatchRun,
        client: S3Client,
        url: S3Url,
        found: list[ListedObject],
        summary: IngestSummary,
    ) -> list[ListedObject]:
        """Stream each object into the store; returns the photos the listing names."""
        listed = []
        for item in found:
            if self.should_stop is not None and self.should_stop():
                raise IngestInterrupted(
                    "stopped; the batch resumes at the next poll", source=run.path
                )
            member = _member(client, url, item)
            if run.handler.role(member) is None:
                continue
            try:
                result = self._fetch(run.path, member, run.handler.want_sha256(member))
            except BucketUnreachable:
                raise
            except SourceError as exc:
                run.failures.append((member.path, exc.reason))
                summary.failures.append(_failure(run.path, member.path, exc.reason))
                continue
            summary.blobs_new += int(result.new)
            summary.bytes_new += result.size if result.new else 0
            summary.blobs_deduplicated += int(not result.new)
            run.pending.append((member, result))
            if is_image_name(member.path) and place(
                Path(run.path), member.path, self.config.images
            ):
                listed.append(item)
            if len(run.pending) >= BATCH:
                self._flush_batch(run)
        return listed

    def _flush_batch(self, run: _BatchRun) -> None:
        """Record the stored members (blob, occurrence, keys) in one transaction."""
        if not run.pending:
            return
        # Objects durable before the rows that name them (a no-op for S3, whose PUT is).
        self.store.sync_batch()
        with self.index.write():
            recorded = self.members.record_batch(run.row, run.handler, run.pending, run.changed)
            run.stored += recorded
            run.manifest += manifest_entries(run.pending, recorded)
        run.pending.clear()

    def _interpret_batch(self, run: _BatchRun, summary: IngestSummary) -> str:
        """Interpret, rematch what changed and decide the outcome, as any drop's run."""
        row = run.row
        with self.index.write():
            run.changed.update(objects.stale_occurrence_keys(self.index, row.id, row.run))
            objects.remove_stale_occurrences(self.index, row.id, row.run)
            sources.replace_member_failures(self.index, row.id, run.failures)
        ctx = InterpretContext(
            self.index, self.store, self.config, row.id, Path(run.path), run.stored
        )
        interpreted = run.handler.interpret(ctx)
        for member_path, message in ctx.failures + ctx.notes:
            summary.failures.append(_failure(run.path, member_path, message))
        if ctx.failures or ctx.notes:
            with self.index.write():
                sources.replace_member_failures(
                    self.index, row.id, run.failures + ctx.failures, ctx.notes
                )
        self._rematch(run.changed, interpreted, summary)
        for name, count in interpreted.counts.items():
            summary.counts[name] = summary.counts.get(name, 0) + count
        state = self.conclude(row, len(run.stored))
        summary.sources.append({"path": run.path, "kind": run.handler.kind, "state": state})
        return state

    def _known_object(self, digest: str) -> bool:
        """Whether the index has a row for this object (one without may be a killed
        upload's, or planted: the store checks it before trusting it)."""
        return objects.blob_info(self.index, digest) is not None

    def _fetch(self, path: str, member: Member, want_sha256: bool) -> PutResult:
        limit = SizeLimit(
            max_bytes=min(self.config.limits.max_member_bytes, member.size),
            source=path,
            member=member.path,
            reason="object yields more bytes than its listing said",
        )
        if member.size > self.config.limits.max_member_bytes:
            raise SourceError(
                "object is over limits.max_member_bytes", source=path, member=member.path
            )
        with _BucketStream(member.opener, path, member.path) as stream:
            return self.store.put_stream(
                cast(BinaryIO, stream),
                limit=limit,
                want_sha256=want_sha256,
                should_abort=self.should_stop,
                known=self._known_object,
            )


@dataclass
class _BatchRun:
    """One run of a batch: what it stored so far and what it found wrong."""

    path: str
    row: sources.SourceRow
    handler: Any
    failures: list[tuple[str | None, str]] = field(default_factory=list)
    stored: list[StoredOccurrence] = field(default_factory=list)
    manifest: list[ManifestMember] = field(default_factory=list)
    changed: set[tuple[str, str]] = field(default_factory=set)
    pending: list[tuple[Member, PutResult]] = field(default_factory=list)


def _member(client: S3Client, url: S3Url, item: ListedObject) -> Member:
    def opener(key: str = item.key) -> BinaryIO:
        return open_object(client, url.bucket, key)

    return Member(
        path=f"{url.bucket}/{item.key}",
        size=item.size,
        opener=opener,
        mtime_ns=int(item.last_modified.timestamp() * 1_000_000_000),
    )


def _listing(url: S3Url, listed: list[ListedObject]) -> bytes:
    """What list-objects-v2 said of the batch's photos, with keys from the bucket on."""
    contents = [
        {
            "Key": f"{url.bucket}/{o.key}",
            "LastModified": o.last_modified.isoformat(),
            "Size": o.size,
            "ETag": o.etag,
        }
        for o in listed
    ]
    return json.dumps({"Contents": contents, "Name": url.bucket, "Prefix": url.prefix}).encode()


def _fingerprint(found: list[ListedObject]) -> str:
    import hashlib

    hasher = hashlib.sha256()
    for item in found:
        hasher.update(f"{item.key}\0{item.etag}\0{item.size}\n".encode())
    return f"s3:{hasher.hexdigest()}"


def _failure(source: str, member: str | None, error: str) -> Any:
    from mediasyncd.ingest.pipeline import Failure

    return Failure(source, member, error)


class _BucketStream:
    """An object of the bucket (seekable: a ranged GET after a seek); errors say whether
    it is gone (a problem of the batch) or the bucket could not be read (the batch is
    tried again)."""

    def __init__(self, opener: Callable[[], BinaryIO], source: str, member: str):
        self._source = source
        self._member = member
        self._stream = self._guard(opener)

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except FileNotFoundError as exc:
            raise SourceError(
                "the object is gone from the bucket", source=self._source, member=self._member
            ) from exc
        except OSError as exc:
            raise BucketUnreachable(str(exc), source=self._source, member=self._member) from exc

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._guard(lambda: self._stream.read(size))
        return data

    # Seekable, so a store may read an object again instead of spooling it to disk.
    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return int(self._stream.tell())

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._guard(lambda: self._stream.seek(offset, whence)))

    def __enter__(self) -> _BucketStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()


def _stopping() -> tuple[type[Exception], ...]:
    """What ends a batch's run early: the bucket or the store unreachable, a shutdown,
    the index locked too long (or a collision, which needs a person)."""
    from mediasyncd.errors import StoreError
    from mediasyncd.index import engine

    return (BucketUnreachable, IngestInterrupted, StoreError, *engine.OPERATIONAL_ERRORS)


_STOPPING: Final = _stopping()
