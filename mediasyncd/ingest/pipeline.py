"""Ingesting drops: walk, store, record, interpret, rematch what the drop can affect.

For each source the order is fixed so that a crash at any step leaves a consistent state:
1. the source row is marked pending with a new run number;
2. each member is streamed into the store (the object is durable before its row exists),
   then its blob, occurrence and keys are recorded in batched write transactions
   (mediasyncd.ingest.members);
3. occurrences the source no longer has are removed, skipped members recorded;
4. the handler interprets the source's documents (conversations, maps, traces);
5. the matchers recompute only the subjects whose keys or data changed;
6. the source is marked ok, partial or failed (mediasyncd.ingest.outcome), and sources
   whose export manifest named files this drop brought are reassessed.
Re-running after a crash repeats the run idempotently: objects already stored are hits,
rows are upserts. The pipeline names no kind: handlers, matchers and counters come from
mediasyncd.kinds.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediasyncd import faults, kinds
from mediasyncd.config import Config
from mediasyncd.coordination import locks_for
from mediasyncd.errors import (
    CollisionError,
    FileChangedError,
    IngestInterrupted,
    MediasyncdError,
    SourceError,
    StoreError,
)
from mediasyncd.fs.guard import RefusedPath, check
from mediasyncd.fs.pathtext import path_text
from mediasyncd.index import Index, aliases, expected, objects, sources
from mediasyncd.ingest import outcome
from mediasyncd.ingest.alias import Copies, whole_file_content
from mediasyncd.ingest.fingerprint import fingerprint_of
from mediasyncd.ingest.members import MemberWriter, manifest_entries
from mediasyncd.ingest.progress import MATCHING, Progress, reading_phase
from mediasyncd.ingest.summary import Failure, IngestSummary, source_entry
from mediasyncd.logconfig import get_logger
from mediasyncd.matching import MatchDelta
from mediasyncd.sources.base import InterpretContext, InterpretResult, SourceHandler
from mediasyncd.sources.base import StoredOccurrence as Stored
from mediasyncd.sources.container import ContainerWalker, Member, Rejected, drop_size
from mediasyncd.store import PutResult, Store
from mediasyncd.store.locks import Interrupted as LockInterrupted
from mediasyncd.store.manifest import MANIFEST_MEMBER, Manifest, ManifestMember, write_manifest
from mediasyncd.timeutil import utc_now_iso

__all__ = ["CHANGE_ATTEMPTS", "Failure", "IngestSummary", "Ingester"]

log = get_logger("mediasyncd.ingest")

BATCH = 500
# How often a drop that changed while it was read is read again before it is left pending.
CHANGE_ATTEMPTS = 3
Problems = list[tuple[str | None, str]]


@dataclass
class _Members:
    """What one run of a source has stored so far."""

    row: sources.SourceRow
    handler: SourceHandler
    stored: list[Stored] = field(default_factory=list)
    failures: Problems = field(default_factory=list)
    changed_keys: set[tuple[str, str]] = field(default_factory=set)
    manifest: list[ManifestMember] = field(default_factory=list)
    pending: list[tuple[Member, PutResult]] = field(default_factory=list)


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
        self.members = MemberWriter(index, store, config)
        self.copies = Copies(self)

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
            # Statistics for the next drop's plans (the daemon's connection lives long).
            self.index.optimize()
            return state
        raise AssertionError("unreachable: the last attempt always returns")

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
            path = sources.source_path(self.index, other)
            log.info("source.complete", source=path, completed_by=row.path)
        # The daemon warns about a partial or failed drop (job.partial, job.failed); the
        # CLI prints the problems itself.
        bound.info("source.done", members=stored, state=state, problem_count=total)
        return state

    # -- one attempt at a drop -----------------------------------------------------------

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
            summary.sources.append(source_entry(source_text, None, outcome.PENDING, []))
            return outcome.PENDING, False

    def _unreadable(self, source_text: str, exc: OSError, summary: IngestSummary) -> str:
        reason = exc.strerror if isinstance(exc, RefusedPath) else None
        error = SourceError(reason or f"cannot read: {exc.strerror or exc}", source=source_text)
        summary.failures.append(Failure(source_text, None, error.reason))
        summary.sources.append(
            source_entry(source_text, None, outcome.FAILED, [(None, error.reason)])
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
            return self._unchanged(existing, summary, bound), False
        row = self._begin_run(source_text, st, fingerprint)
        # A run that never finished (killed, shut down, a full disk) may have recorded its
        # documents but not rematched them; this run finds them already read, so it
        # rematches everything instead of only what it changes itself.
        resumed = existing is not None and existing.state == outcome.PENDING
        self.progress.source_started(path, drop_size(path, self.config.limits.max_folder_depth))
        try:
            kind, final_state = self._run(path, row, summary, fingerprint, resumed=resumed)
        except MediasyncdError as exc:
            return self._run_failed(row, exc, summary, bound)
        finally:
            self.progress.source_finished(path)
        summary.sources.append(self._entry(row, kind, final_state))
        return final_state, False

    def _entry(self, row: sources.SourceRow, kind: str | None, state: str) -> dict[str, Any]:
        problems = outcome.problems_of(self.index, row.id)
        entry = source_entry(row.path, kind, state, problems, outcome.notes_of(self.index, row.id))
        original = aliases.same_as(self.index, row.id)
        if original is not None:
            entry["same_as"] = sources.source_path(self.index, original)
        return entry

    def _unchanged(self, existing: sources.SourceRow, summary: IngestSummary, bound: Any) -> str:
        entry = self._entry(existing, existing.kind, existing.state)
        entry["unchanged"] = True
        summary.sources.append(entry)
        bound.info("source.unchanged", state=existing.state)
        return existing.state

    def _begin_run(
        self, source_text: str, st: os.stat_result, fingerprint: str
    ) -> sources.SourceRow:
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
        return row

    def _run_failed(
        self, row: sources.SourceRow, exc: MediasyncdError, summary: IngestSummary, bound: Any
    ) -> tuple[str, bool]:
        """A run that stopped: its state, and whether the drop changed while read.

        A changed file, a full disk or a shutdown is not the drop's fault: it stays
        pending, and is read again (the daemon does not retry failed drops). A collision
        (or a damaged stored object) needs a person: retrying cannot help."""
        transient = isinstance(exc, FileChangedError | StoreError | IngestInterrupted)
        state = (
            outcome.PENDING if transient and not isinstance(exc, CollisionError) else outcome.FAILED
        )
        member = exc.member if isinstance(exc, SourceError) else None
        reason = exc.reason if isinstance(exc, SourceError) else str(exc)
        summary.failures.append(Failure(row.path, member, reason))
        with self.index.write():
            # The row names the source; its error names only the member, so the path is
            # shown once (`status`, the daemon's last drop).
            sources.finish_source(
                self.index, row.id, state=state, error=outcome.describe([(member, reason)])
            )
            if state == outcome.PENDING:
                # A changed file is retried as a whole: keep no half-recorded run.
                sources.forget_fingerprint(self.index, row.id)
        summary.sources.append(source_entry(row.path, None, state, [(member, reason)]))
        bound.warning("source.failed", error=reason, member=member)
        return state, isinstance(exc, FileChangedError)

    # -- one run of a source -------------------------------------------------------------

    def _run(
        self,
        path: Path,
        row: sources.SourceRow,
        summary: IngestSummary,
        fingerprint: str,
        *,
        resumed: bool,
    ) -> tuple[str, str]:
        """A copy of a landed drop becomes its alias; anything else is ingested."""
        content = whole_file_content(path, fingerprint, row.path)
        if content is not None:
            original = aliases.original_with_content(self.index, content, row.path)
            if original is not None:
                return self.copies.record(row, original, content, fingerprint, summary)
        self.copies.before_reading(row, content, summary)
        return self._ingest_source(path, row, summary, fingerprint, content, resumed=resumed)

    def _ingest_source(
        self,
        path: Path,
        row: sources.SourceRow,
        summary: IngestSummary,
        fingerprint: str,
        content: str | None,
        *,
        resumed: bool = False,
    ) -> tuple[str, str]:
        handler = kinds.choose_handler(path, self.config)
        with self.index.write():
            sources.set_source_kind(self.index, row.id, handler.kind)
        bound = log.bind(source=row.path, kind=handler.kind)
        bound.info("source.started")
        run = _Members(row, handler)
        self._store_members(path, run, summary, bound)
        self.progress.phase(reading_phase(handler.kind))
        self._check_unchanged(path, fingerprint, row.path)
        self.record_manifest(
            row,
            Manifest(
                row.path,
                handler.kind,
                fingerprint,
                utc_now_iso(),
                path.is_dir(),
                run.manifest,
                run.failures,
                content,
            ),
        )
        with self.index.write():
            run.changed_keys.update(objects.stale_occurrence_keys(self.index, row.id, row.run))
            objects.remove_stale_occurrences(self.index, row.id, row.run)
            sources.replace_member_failures(self.index, row.id, run.failures)
        interpreted = self._interpret(path, run, summary)
        self.progress.phase(MATCHING)
        faults.point("ingest.before_rematch")
        self._rematch(run.changed_keys, interpreted, summary, everything=resumed)
        state = self.conclude(row, len(run.stored), bound)
        for name, count in interpreted.counts.items():
            summary.counts[name] = summary.counts.get(name, 0) + count
        return handler.kind, state

    def _store_members(self, path: Path, run: _Members, summary: IngestSummary, bound: Any) -> None:
        """Walk the drop and store each member; record them a batch at a time."""
        walker = ContainerWalker(
            path, self.config.limits, spool_dir=self.state_dir / "tmp", expand=run.handler.expand
        )
        self.members.cached_files.clear()
        with self.store.batch():
            self._walk_members(walker, run, summary, bound)
            self._flush(run)

    def _walk_members(
        self, walker: ContainerWalker, run: _Members, summary: IngestSummary, bound: Any
    ) -> None:
        for item in walker.walk():
            self.progress.advance(walker.position, item.path)
            if self.should_stop is not None and self.should_stop():
                raise IngestInterrupted(
                    "ingest interrupted by shutdown; it resumes on restart", source=run.row.path
                )
            if isinstance(item, Rejected):
                self._skip(run, summary, item.path, item.reason)
                bound.warning("member.rejected", member=item.path, error=item.reason)
                continue
            if run.handler.role(item) is None:
                continue
            try:
                result = self.members.put(run.row.path, item, run.handler.want_sha256(item))
            except FileChangedError:
                raise
            except SourceError as exc:
                # One bad member (over a limit, damaged data) is skipped and recorded; the
                # rest of the source still lands, and the source is partial.
                self._skip(run, summary, item.path, exc.reason)
                bound.warning("member.skipped", member=item.path, error=exc.reason)
                continue
            if result.new:
                summary.blobs_new += 1
                summary.bytes_new += result.size
            else:
                summary.blobs_deduplicated += 1
            run.pending.append((item, result))
            if len(run.pending) >= BATCH:
                self._flush(run)

    def _skip(self, run: _Members, summary: IngestSummary, member: str, reason: str) -> None:
        run.failures.append((member, reason))
        summary.failures.append(Failure(run.row.path, member, reason))

    def _flush(self, run: _Members) -> None:
        """Record the members stored since the last flush, in one write transaction,
        once the store has made their objects durable (one barrier per batch)."""
        if not run.pending:
            return
        self.store.sync_batch()
        faults.point("store.after_batch_sync")
        with self.index.write():
            self.members.record_cached_files()
            recorded = self.members.record_batch(
                run.row, run.handler, run.pending, run.changed_keys
            )
            run.stored += recorded
            run.manifest += manifest_entries(run.pending, recorded)
        faults.point("ingest.after_batch_commit")
        run.pending.clear()

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

    def rematch_keys(self, keys: set[tuple[str, str]], summary: IngestSummary) -> None:
        """Recompute the subjects these changed keys can affect (a copy's stale keys)."""
        self._rematch(keys, InterpretResult(), summary)

    def rematch_subjects(self, touched: dict[str, set[str]], summary: IngestSummary) -> None:
        self._rematch(set(), InterpretResult(touched=touched), summary)

    def record_manifest(self, row: sources.SourceRow, manifest: Manifest) -> None:
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

    def _interpret(self, path: Path, run: _Members, summary: IngestSummary) -> InterpretResult:
        """The handler reads the drop's documents; what it could not read is recorded."""
        ctx = InterpretContext(
            index=self.index,
            store=self.store,
            config=self.config,
            source_id=run.row.id,
            source=path,
            occurrences=run.stored,
        )
        interpreted = run.handler.interpret(ctx)
        for failed_member, message in ctx.failures + ctx.notes:
            summary.failures.append(Failure(run.row.path, failed_member, message))
        if ctx.failures or ctx.notes:
            with self.index.write():
                sources.replace_member_failures(
                    self.index, run.row.id, run.failures + ctx.failures, ctx.notes
                )
        return interpreted

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
