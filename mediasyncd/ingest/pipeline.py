"""Ingesting drops: walk, store, record, interpret, rematch what the drop can affect.

For each source the order is fixed so that a crash at any step leaves a consistent state:
1. the source row is marked pending with a new run number;
2. each member is streamed into the store (the object is durable before its row exists),
   then its blob, occurrence and keys are recorded in batched write transactions;
3. occurrences the source no longer has are removed, skipped members recorded;
4. the handler interprets the source's documents (conversations, maps, traces);
5. the matchers recompute only the subjects whose keys or data changed;
6. the source is marked ok, partial or failed (mediasyncd.ingest.outcome), and sources whose
   export manifest named files this drop brought are reassessed.
Re-running after a crash repeats the run idempotently: objects already stored are hits,
rows are upserts.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterable
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from mediasyncd import faults, kinds
from mediasyncd.config import Config
from mediasyncd.coordination import locks_for
from mediasyncd.errors import (
    CollisionError,
    FileChangedError,
    IngestInterrupted,
    MediasyncdError,
    MemberRejected,
    SourceError,
    StoreError,
)
from mediasyncd.fs.guard import RefusedPath, check
from mediasyncd.fs.pathtext import path_text
from mediasyncd.index import Index, expected, objects, sources
from mediasyncd.ingest import outcome
from mediasyncd.ingest.fingerprint import fingerprint_of
from mediasyncd.ingest.progress import MATCHING, Progress, reading_phase
from mediasyncd.matching import MatchDelta
from mediasyncd.sources.base import (
    InterpretContext,
    InterpretResult,
    SourceHandler,
    StoredOccurrence,
)
from mediasyncd.sources.container import ContainerWalker, Member, Rejected, drop_size
from mediasyncd.store import PutResult, SizeLimit, Store
from mediasyncd.store.locks import Interrupted as LockInterrupted
from mediasyncd.store.manifest import (
    MANIFEST_MEMBER,
    Manifest,
    ManifestMember,
    write_manifest,
)
from mediasyncd.timeutil import utc_now_iso

log = structlog.get_logger("mediasyncd.ingest")

BATCH = 500
# How often a drop that changed while it was read is read again before it is left pending.
CHANGE_ATTEMPTS = 3


@dataclass
class Failure:
    source: str
    member: str | None
    error: str


def _kind_counters() -> dict[str, int]:
    return dict.fromkeys(kinds.counter_names(), 0)


@dataclass
class IngestSummary:
    """The `ingest --json` contract (docs/architecture.md, "Contract"), plus per-source
    detail. The kinds' counters (`conversations_new`, `rematched_users`, ...) come from
    mediasyncd.kinds and read as attributes too."""

    blobs_new: int = 0
    bytes_new: int = 0
    blobs_deduplicated: int = 0
    counts: dict[str, int] = field(default_factory=_kind_counters)
    matches_added: int = 0
    matches_removed: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    sources: list[dict[str, Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> int:
        counts = self.__dict__.get("counts")
        if counts is not None and name in counts:
            return int(counts[name])
        raise AttributeError(name)

    @property
    def failed_sources(self) -> int:
        """Sources that did not land (failed, or left pending to be read again)."""
        return sum(1 for s in self.sources if s["state"] not in (outcome.OK, outcome.PARTIAL))

    @property
    def exit_code(self) -> int:
        """0 all ok, 3 some partial and none failed, 1 some failed (mediasyncd.ingest.outcome)."""
        return outcome.exit_code(s["state"] for s in self.sources)

    @property
    def changed(self) -> bool:
        """Whether interpreting changed some subject or a link came or went."""
        interpreted = {c for kind in kinds.all_kinds() for c in kind.counters}
        return bool(
            any(self.counts.get(c) for c in interpreted)
            or self.matches_added
            or self.matches_removed
        )

    def merge(self, other: IngestSummary) -> None:
        """Add another summary's counts, failures and sources to this one."""
        for name in ("blobs_new", "bytes_new", "blobs_deduplicated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        self.matches_added += other.matches_added
        self.matches_removed += other.matches_removed
        self.failures.extend(other.failures)
        self.sources.extend(other.sources)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "blobs_new": self.blobs_new,
            "bytes_new": self.bytes_new,
            "blobs_deduplicated": self.blobs_deduplicated,
            **self.counts,
            "matches_added": self.matches_added,
            "matches_removed": self.matches_removed,
            "failures": [asdict(failure) for failure in self.failures],
            "seconds": round(self.seconds, 3),
            "sources": deepcopy(self.sources),
        }
        return data


class Ingester:
    def __init__(
        self,
        index: Index,
        store: Store,
        config: Config,
        state_dir: Path,
        *,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.index = index
        self.store = store
        self.config = config
        self.state_dir = state_dir
        self.progress = progress or Progress()
        self.should_stop = should_stop

    # -- public ------------------------------------------------------------------------

    def ingest_paths(self, paths: Iterable[Path], *, retry_failed: bool = True) -> IngestSummary:
        started = time.monotonic()
        summary = IngestSummary()
        for path in paths:
            self.ingest_one(Path(path), summary, retry_failed=retry_failed)
        self._settle_partials(summary)
        summary.seconds = time.monotonic() - started
        return summary

    def _settle_partials(self, summary: IngestSummary) -> None:
        """A part dropped in the same command may have completed an earlier one (its
        export manifest's missing files): report each partial source as it ends."""
        for entry in summary.sources:
            if entry["state"] != outcome.PARTIAL:
                continue
            row = sources.get_source(self.index, entry["path"])
            if row is not None and row.state != entry["state"]:
                entry["state"] = row.state
                entry["problems"] = outcome.as_json(outcome.problems_of(self.index, row.id))

    def ingest_one(self, path: Path, summary: IngestSummary, *, retry_failed: bool = True) -> str:
        """Ingest one drop into `summary`; returns its final state ('ok', 'failed', ...).

        A drop whose file changed while it was hashed is read again at once, a few times
        (git-annex and Syncthing do the same); only then is it left pending.
        """
        for attempt in range(1, CHANGE_ATTEMPTS + 1):
            trial = IngestSummary()
            state, changed = self._attempt(path, trial, retry_failed=retry_failed)
            if changed and attempt < CHANGE_ATTEMPTS:
                # The objects it wrote are real; its failures and hits the retry repeats.
                summary.blobs_new += trial.blobs_new
                summary.bytes_new += trial.bytes_new
                log.info("source.changed_retry", source=path_text(path.absolute()), attempt=attempt)
                continue
            summary.merge(trial)
            return state
        raise AssertionError("unreachable: the last attempt always returns")

    def _attempt(
        self, path: Path, summary: IngestSummary, *, retry_failed: bool
    ) -> tuple[str, bool]:
        """One try at a drop: its final state, and whether it changed while being read."""
        source_text = path_text(path.absolute())
        bound = log.bind(source=source_text)
        try:
            check(path)
        except OSError as exc:
            return self._unreadable(source_text, exc, summary), False

        def waiting(holder: int | None) -> None:
            bound.warning("source.waiting", reason="another ingest of this source runs", pid=holder)
            self.progress.waiting(path, holder)

        try:
            with locks_for(self.index, self.state_dir).source(
                source_text, on_wait=waiting, should_stop=self.should_stop
            ):
                return self._attempt_locked(path, source_text, summary, retry_failed=retry_failed)
        except LockInterrupted:
            # Stopped while another writer held the source: nothing of it was touched.
            summary.sources.append(_source_entry(source_text, None, "pending", []))
            return "pending", False

    def _unreadable(self, source_text: str, exc: OSError, summary: IngestSummary) -> str:
        reason = exc.strerror if isinstance(exc, RefusedPath) else None
        error = SourceError(reason or f"cannot read: {exc.strerror or exc}", source=source_text)
        summary.failures.append(Failure(source_text, None, error.reason))
        summary.sources.append(
            _source_entry(source_text, None, outcome.FAILED, [(None, error.reason)])
        )
        log.warning("source.unreadable", source=source_text, error=error.reason)
        return "failed"

    def _attempt_locked(
        self, path: Path, source_text: str, summary: IngestSummary, *, retry_failed: bool
    ) -> tuple[str, bool]:
        bound = log.bind(source=source_text)
        try:
            fingerprint, st = fingerprint_of(path)
        except OSError as exc:
            return self._unreadable(source_text, exc, summary), False
        existing = sources.get_source(self.index, source_text)
        # An unchanged drop that landed is skipped; one that failed is retried only when
        # asked (the CLI retries, the daemon waits for a changed file).
        if (
            existing is not None
            and existing.fingerprint == fingerprint
            and (
                existing.state in (outcome.OK, outcome.PARTIAL)
                or (existing.state == outcome.FAILED and not retry_failed)
            )
        ):
            entry = _source_entry(
                source_text,
                existing.kind,
                existing.state,
                outcome.problems_of(self.index, existing.id),
                outcome.notes_of(self.index, existing.id),
            )
            entry["unchanged"] = True
            summary.sources.append(entry)
            bound.info("source.unchanged", state=existing.state)
            return existing.state, False
        with self.index.write():
            row = sources.begin_source_run(
                self.index,
                source_text,
                is_dir=stat.S_ISDIR(st.st_mode),
                size=None if stat.S_ISDIR(st.st_mode) else st.st_size,
                mtime_ns=st.st_mtime_ns,
                inode=st.st_ino,
                device=st.st_dev,
                fingerprint=fingerprint,
            )
        faults.point("ingest.after_source_row")
        # A run that never finished (killed, shut down, a full disk) may have recorded its
        # documents but not rematched them; this run finds them already read, so it
        # rematches everything instead of only what it changes itself.
        resumed = existing is not None and existing.state == "pending"
        self.progress.source_started(path, drop_size(path, self.config.limits.max_folder_depth))
        try:
            kind, final_state = self._ingest_source(
                path, row, summary, fingerprint, resumed=resumed
            )
        except MediasyncdError as exc:
            # A changed file, a full disk or a shutdown is not the drop's fault: it stays
            # pending, and is read again (the daemon does not retry failed drops).
            # A collision (or a damaged stored object) needs a person: retrying cannot help.
            transient = isinstance(exc, FileChangedError | StoreError | IngestInterrupted)
            state = "pending" if transient and not isinstance(exc, CollisionError) else "failed"
            member = exc.member if isinstance(exc, SourceError) else None
            reason = exc.reason if isinstance(exc, SourceError) else str(exc)
            summary.failures.append(Failure(source_text, member, reason))
            with self.index.write():
                # The row names the source; its error names only the member, so the
                # path is shown once (`status`, the daemon's last drop).
                sources.finish_source(
                    self.index, row.id, state=state, error=outcome.describe([(member, reason)])
                )
                if state == "pending":
                    # A changed file is retried as a whole: keep no half-recorded run.
                    sources.forget_fingerprint(self.index, row.id)
            summary.sources.append(_source_entry(source_text, None, state, [(member, reason)]))
            bound.warning("source.failed", error=reason, member=member)
            return state, isinstance(exc, FileChangedError)
        finally:
            self.progress.source_finished(path)
        summary.sources.append(
            _source_entry(
                source_text,
                kind,
                final_state,
                outcome.problems_of(self.index, row.id),
                outcome.notes_of(self.index, row.id),
            )
        )
        return final_state, False

    # -- one source ----------------------------------------------------------------------

    def _ingest_source(
        self,
        path: Path,
        row: sources.SourceRow,
        summary: IngestSummary,
        fingerprint: str,
        *,
        resumed: bool = False,
    ) -> tuple[str, str]:
        handler = kinds.choose_handler(path, self.config)
        with self.index.write():
            sources.set_source_kind(self.index, row.id, handler.kind)
        bound = log.bind(source=row.path, kind=handler.kind)
        bound.info("source.started")
        walker = ContainerWalker(
            path,
            self.config.limits,
            spool_dir=self.state_dir / "tmp",
            expand=handler.expand,
        )
        failures: list[tuple[str | None, str]] = []
        stored: list[StoredOccurrence] = []
        changed_keys: set[tuple[str, str]] = set()
        pending: list[tuple[Member, PutResult]] = []

        manifest_members: list[ManifestMember] = []

        def flush() -> None:
            if not pending:
                return
            with self.index.write():
                for member, result in pending:
                    occurrence = self.record_member(row, handler, member, result, changed_keys)
                    stored.append(occurrence)
                    manifest_members.append(
                        ManifestMember(
                            member.path,
                            result.digest,
                            occurrence.role,
                            result.size,
                            member.crc32,
                            member.mtime_ns,
                        )
                    )
            faults.point("ingest.after_batch_commit")
            pending.clear()

        for item in walker.walk():
            self.progress.advance(walker.position, item.path)
            if self.should_stop is not None and self.should_stop():
                raise IngestInterrupted(
                    "ingest interrupted by shutdown; it resumes on restart", source=row.path
                )
            if isinstance(item, Rejected):
                failures.append((item.path, item.reason))
                summary.failures.append(Failure(row.path, item.path, item.reason))
                bound.warning("member.rejected", member=item.path, error=item.reason)
                continue
            role = handler.role(item)
            if role is None:
                continue
            try:
                result = self._store_member(row.path, item, handler.want_sha256(item))
            except FileChangedError:
                raise
            except SourceError as exc:
                # One bad member (over a limit, damaged data) is skipped and recorded; the
                # rest of the source still lands, and the source is partial.
                failures.append((item.path, exc.reason))
                summary.failures.append(Failure(row.path, item.path, exc.reason))
                bound.warning("member.skipped", member=item.path, error=exc.reason)
                continue
            if result.new:
                summary.blobs_new += 1
                summary.bytes_new += result.size
            else:
                summary.blobs_deduplicated += 1
            pending.append((item, result))
            if len(pending) >= BATCH:
                flush()
        flush()
        self.progress.phase(reading_phase(handler.kind))
        self._check_unchanged(path, fingerprint, row.path)
        self._record_manifest(
            row,
            Manifest(
                row.path,
                handler.kind,
                fingerprint,
                utc_now_iso(),
                path.is_dir(),
                manifest_members,
                failures,
            ),
        )

        with self.index.write():
            changed_keys.update(objects.stale_occurrence_keys(self.index, row.id, row.run))
            objects.remove_stale_occurrences(self.index, row.id, row.run)
            sources.replace_member_failures(self.index, row.id, failures)

        ctx = InterpretContext(
            index=self.index,
            store=self.store,
            config=self.config,
            source_id=row.id,
            source=path,
            occurrences=stored,
        )
        interpreted = handler.interpret(ctx)
        for failed_member, message in ctx.failures + ctx.notes:
            summary.failures.append(Failure(row.path, failed_member, message))
        if ctx.failures or ctx.notes:
            with self.index.write():
                sources.replace_member_failures(
                    self.index, row.id, failures + ctx.failures, ctx.notes
                )
        self.progress.phase(MATCHING)
        faults.point("ingest.before_rematch")
        self._rematch(changed_keys, interpreted, summary, everything=resumed)
        state = self.conclude(row, len(stored), bound)
        for name, count in interpreted.counts.items():
            summary.counts[name] = summary.counts.get(name, 0) + count
        return handler.kind, state

    def conclude(self, row: sources.SourceRow, stored: int, bound: Any = log) -> str:
        """Decide the source's state from its problems, and reassess the sources whose
        export manifest named files this drop brought (they may be complete now).
        Also used by reindex."""
        with self.index.write():
            total = outcome.problem_count(self.index, row.id)
            problems = outcome.problems_of(self.index, row.id)[:20] if total else []
            state = outcome.decide(stored, total)
            sources.finish_source(
                self.index,
                row.id,
                state=state,
                error=outcome.describe(problems, total),
                members=stored,
            )
            completed = []
            for other in expected.mark_arrivals(self.index, row.id):
                if outcome.reassess(self.index, other) == outcome.OK:
                    completed.append(other)
        for other in completed:
            path = sources.path_of(self.index, other)
            log.info("source.complete", source=path, completed_by=row.path)
        # The daemon warns about a partial or failed drop (job.partial, job.failed); the
        # CLI prints the problems itself.
        bound.info("source.done", members=stored, state=state, problem_count=total)
        return state

    def _record_manifest(self, row: sources.SourceRow, manifest: Manifest) -> None:
        """Store what this drop held, so the index can be rebuilt from the store alone."""
        result = write_manifest(self.store, manifest, self.state_dir / "tmp")
        with self.index.write():
            objects.record_blob(self.index, result.digest, result.size, result.mime, None)
            objects.record_occurrence(
                self.index,
                row.id,
                MANIFEST_MEMBER,
                result.digest,
                "other",
                result.size,
                None,
                row.run,
            )
            sources.set_manifest(self.index, row.id, result.digest)

    def _store_member(self, source: str, member: Member, want_sha256: bool) -> PutResult:
        limit = SizeLimit(
            max_bytes=min(self.config.limits.max_member_bytes, max(member.size, 0)),
            source=source,
            member=member.path,
            reason="member yields more bytes than its header declares",
        )
        if member.disk_path is not None:
            # A file on disk may legitimately grow while read (a slow copy): the change
            # check after hashing catches that, so only the absolute cap applies here.
            disk_limit = SizeLimit(
                self.config.limits.max_member_bytes,
                source,
                member.path,
                "file is over limits.max_member_bytes",
            )
            return self._store_disk_member(source, member, want_sha256, disk_limit)
        if member.crc32 is not None:
            hint = objects.digest_for_crc(self.index, member.crc32, member.size)
            if hint is not None and self.store.has(hint):
                # Probably stored already (a re-drop): hash without writing first. Only an
                # object the index knows is trusted without writing (see Store).
                with self._open(source, member) as stream:
                    hashed = self.store.hash_stream(stream, limit=limit, want_sha256=want_sha256)
                if self._known(hashed.digest) and self.store.has(hashed.digest):
                    self.store.touch(hashed.digest)
                    return hashed
        with self._open(source, member) as stream:
            return self._put(source, member, stream, limit, want_sha256)

    def _store_disk_member(
        self, source: str, member: Member, want_sha256: bool, limit: SizeLimit
    ) -> PutResult:
        assert member.disk_path is not None and member.inode is not None
        assert member.device is not None and member.mtime_ns is not None
        key = path_text(member.disk_path.absolute())
        cached = objects.cached_digest(
            self.index, key, member.device, member.inode, member.size, member.mtime_ns
        )
        if cached is not None and self.store.has(cached):
            info = objects.blob_info(self.index, cached)
            if info is not None and (info.sha256 is not None or not want_sha256):
                sha = bytes.fromhex(info.sha256) if info.sha256 else None
                self.store.touch(cached)
                return PutResult(cached, info.size, False, info.mime, sha)
        with self._open(source, member) as stream:
            result = self._put(source, member, stream, limit, want_sha256)
        try:
            after = member.disk_path.stat()
        except OSError as exc:
            raise FileChangedError(
                "file vanished while it was hashed", source=source, member=member.path
            ) from exc
        if (after.st_size, after.st_mtime_ns, after.st_ino) != (
            member.size,
            member.mtime_ns,
            member.inode,
        ) or result.size != member.size:
            raise FileChangedError(
                "file changed while it was hashed; it will be read again",
                source=source,
                member=member.path,
            )
        with self.index.write():
            objects.remember_file(
                self.index,
                key,
                member.device,
                member.inode,
                member.size,
                member.mtime_ns,
                result.digest,
            )
        return result

    def _put(
        self, source: str, member: Member, stream: Any, limit: SizeLimit, want_sha256: bool
    ) -> PutResult:
        return self.store.put_stream(
            stream, limit=limit, want_sha256=want_sha256, known=self._known
        )

    def _known(self, digest: str) -> bool:
        """Whether the index has a row for this object (an object without one may have
        been left by a killed ingest, or planted: it is checked before it is trusted)."""
        return objects.blob_info(self.index, digest) is not None

    def _open(self, source: str, member: Member) -> Any:
        try:
            return _GuardedStream(member.open(), source, member.path)
        except Exception as exc:  # zipfile raises a wide range of errors on damaged data
            raise SourceError(
                f"cannot open member: {exc}", source=source, member=member.path
            ) from exc

    def _check_unchanged(self, path: Path, fingerprint: str, source: str) -> None:
        """The whole drop, file or folder, is as it was when the run began: what was read
        is one version of it (a folder that grew during the walk is read again)."""
        try:
            now, _ = fingerprint_of(path)
        except OSError as exc:
            raise FileChangedError("source vanished while it was read", source=source) from exc
        if now != fingerprint:
            raise FileChangedError(
                "source changed while it was read; it will be read again", source=source
            )

    def record_member(
        self,
        row: sources.SourceRow,
        handler: SourceHandler,
        member: Member,
        result: PutResult,
        changed_keys: set[tuple[str, str]],
    ) -> StoredOccurrence:
        """Record one stored member: blob, occurrence, keys (also used by reindex)."""
        role = handler.role(member) or "other"
        objects.record_blob(
            self.index,
            result.digest,
            result.size,
            result.mime,
            result.sha256.hex() if result.sha256 else None,
            rewritten=result.new,
        )
        occurrence_id, is_new = objects.record_occurrence(
            self.index,
            row.id,
            member.path,
            result.digest,
            role,
            result.size,
            member.crc32,
            row.run,
        )
        keys = [(k.key_kind, k.key, k.extra) for k in handler.keys(member, result)]
        keys += objects.alias_keys(self.index, member.name, size=result.size)
        if is_new and keys:
            objects.record_keys(self.index, occurrence_id, keys)
            changed_keys.update((kind, key) for kind, key, _ in keys)
        return StoredOccurrence(
            occurrence_id, member.path, result.digest, role, result.mime, result.size
        )

    def _rematch(
        self,
        changed_keys: set[tuple[str, str]],
        interpreted: InterpretResult,
        summary: IngestSummary,
        *,
        everything: bool = False,
    ) -> None:
        changed_keys = changed_keys | interpreted.changed_keys
        for kind in kinds.all_kinds():
            matcher = kind.matcher(self.config)
            ids: set[str] | None = None  # None: every subject
            if not everything:
                ids = matcher.affected(self.index, changed_keys)
                ids |= interpreted.touched.get(matcher.subject, set())
                if not ids:
                    continue
            delta: MatchDelta = matcher.rematch(self.index, ids)
            summary.counts[kind.rematched] += delta.recomputed
            summary.matches_added += delta.added
            summary.matches_removed += delta.removed


def _source_entry(
    path: str,
    kind: str | None,
    state: str,
    problems: list[outcome.Problem],
    notes: list[outcome.Problem] | None = None,
) -> dict[str, Any]:
    """One `sources[]` record of the `ingest --json` summary."""
    return {
        "path": path,
        "kind": kind,
        "state": state,
        "problems": outcome.as_json(problems),
        "notes": outcome.as_json(notes or []),
    }


class _GuardedStream:
    """Wraps a member stream so any read error becomes a SourceError naming the member."""

    def __init__(self, stream: Any, source: str, member: str):
        self._stream = stream
        self._source = source
        self._member = member

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except MemberRejected:
            raise
        except Exception as exc:  # damaged deflate data, CRC mismatch, I/O error
            raise SourceError(
                f"cannot read member: {exc}", source=self._source, member=self._member
            ) from exc
        return data

    def __enter__(self) -> _GuardedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()
