"""Storing one member of a drop and recording it: the object first (streamed into the
store, or found there already), then its blob, occurrence and keys in the index.

A member is found stored already without writing when the index's file cache knows the
file on disk unchanged, or a zip member's CRC-32 and size point at an object the index
knows (re-hashed first: only a known object is trusted). A file on disk is checked after
hashing: changed meanwhile, it is read again (FileChangedError).

Such a member is read and hashed, never linked on its (name, size, CRC-32) alone: next
month's export would save the reading (about 0.4 s of 6,000 members, bench/PROFILES-
issue14.md), but a zip's central directory is what a hostile archive controls (a CRC-32
is forged in microseconds), the link would stand unconfirmed until a background re-hash,
and the daemon's `after_ingest` may delete the drop before that re-hash could read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mediasyncd.config import Config
from mediasyncd.errors import FileChangedError, MemberRejected, SourceError
from mediasyncd.fs.pathtext import path_text
from mediasyncd.index import Index, objects, sources
from mediasyncd.sources.base import SourceHandler, StoredOccurrence
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult, SizeLimit, Store
from mediasyncd.store.manifest import ManifestMember


class MemberWriter:
    def __init__(self, index: Index, store: Store, config: Config):
        self.index = index
        self.store = store
        self.config = config
        # File-cache rows of disk members stored in the open batch: written with the
        # batch's rows, after its barrier (a cache row must not name an object that a
        # power cut could still take back).
        self.cached_files: list[tuple[str, int, int, int, int, str]] = []

    def put(self, source: str, member: Member, want_sha256: bool) -> PutResult:
        """Stream the member into the store (or find it there already)."""
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
                # The hint was checked present just now, and the index has its blob row
                # (digest_for_crc); another digest is looked up in both.
                if hashed.digest == hint or (
                    self.store.has(hashed.digest) and self._known(hashed.digest)
                ):
                    self.store.touch(hashed.digest)
                    return hashed
        with self._open(source, member) as stream:
            return self.store.put_stream(
                stream, limit=limit, want_sha256=want_sha256, known=self._known
            )

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
            result = self.store.put_stream(
                stream, limit=limit, want_sha256=want_sha256, known=self._known
            )
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
        self.cached_files.append(
            (key, member.device, member.inode, member.size, member.mtime_ns, result.digest)
        )
        return result

    def record_cached_files(self) -> None:
        """Write the file-cache rows of the batch (inside the batch's write)."""
        for entry in self.cached_files:
            objects.remember_file(self.index, *entry)
        self.cached_files.clear()

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

    def record(
        self,
        row: sources.SourceRow,
        handler: SourceHandler,
        member: Member,
        result: PutResult,
        changed_keys: set[tuple[str, str]],
    ) -> StoredOccurrence:
        """Record one stored member: blob, occurrence, keys (inside a write)."""
        return self.record_batch(row, handler, [(member, result)], changed_keys)[0]

    def record_batch(
        self,
        row: sources.SourceRow,
        handler: SourceHandler,
        stored: Sequence[tuple[Member, PutResult]],
        changed_keys: set[tuple[str, str]],
    ) -> list[StoredOccurrence]:
        """Record a batch of stored members (inside a write), a few statements per
        table instead of several per member. A member path that repeats in the batch (a
        zip may name one twice) starts a new run of rows, so the later one wins as it
        would one at a time."""
        recorded: list[StoredOccurrence] = []
        start = 0
        while start < len(stored):
            seen: set[str] = set()
            end = start
            while end < len(stored) and stored[end][0].path not in seen:
                seen.add(stored[end][0].path)
                end += 1
            recorded += self._record_distinct(row, handler, stored[start:end], changed_keys)
            start = end
        return recorded

    def _record_distinct(
        self,
        row: sources.SourceRow,
        handler: SourceHandler,
        stored: Sequence[tuple[Member, PutResult]],
        changed_keys: set[tuple[str, str]],
    ) -> list[StoredOccurrence]:
        roles = [handler.role(member) or "other" for member, _ in stored]
        objects.record_blobs(
            self.index,
            [
                objects.NewBlob(
                    r.digest, r.size, r.mime, r.sha256.hex() if r.sha256 else None, r.new
                )
                for _, r in stored
            ],
        )
        ids = objects.record_occurrences(
            self.index,
            row.id,
            row.run,
            [
                objects.NewOccurrence(m.path, r.digest, role, r.size, m.crc32)
                for (m, r), role in zip(stored, roles, strict=True)
            ],
        )
        aliases = objects.alias_keys_of(self.index, (member.name for member, _ in stored))
        new_keys: list[tuple[int, str, str, str | None]] = []
        keyed: list[objects.KeyedFile] = []
        recorded = []
        for (member, result), role, (occurrence_id, is_new) in zip(stored, roles, ids, strict=True):
            if is_new:
                keys = _first_of_each(
                    [(k.key_kind, k.key, k.extra) for k in handler.keys(member, result)]
                    + [
                        (kind, str(result.size) if kind == "size" else key, extra)
                        for kind, key, extra in aliases.get(member.name, [])
                    ]
                )
                new_keys += [(occurrence_id, *key) for key in keys]
                if result.new:
                    # New to the store: no earlier occurrence holds this file, so each of
                    # its keys is a new link (a store that lost an object the index still
                    # names only makes this rematch more than it needs to).
                    changed_keys.update((kind, key) for kind, key, _ in keys)
                else:
                    keyed += [(k, v, result.digest, member.path, role, e) for k, v, e in keys]
            recorded.append(
                StoredOccurrence(
                    occurrence_id, member.path, result.digest, role, result.mime, result.size
                )
            )
        changed_keys.update(self._new_links(keyed))
        objects.record_keys_of(self.index, new_keys)
        return recorded

    def _new_links(self, keyed: list[objects.KeyedFile]) -> set[tuple[str, str]]:
        """The keys whose files these new occurrences change: only a (key, file) the index
        did not hold before, so next month's export, which brings again the files the
        last one had under the same names, rematches what it adds, not everything."""
        held = objects.held_keyed_files(self.index, keyed)
        return {(kind, key) for kind, key, *rest in keyed if (kind, key, *rest) not in held}


def _first_of_each(
    keys: list[tuple[str, str, str | None]],
) -> list[tuple[str, str, str | None]]:
    """One row per (kind, key), the first given: what the member's own name says wins over
    a map's alias of it, as when the map arrives after the file (`add_alias` keeps the
    key a file has). The stored provenance then does not depend on the order of drops."""
    seen: set[tuple[str, str]] = set()
    first = []
    for kind, key, extra in keys:
        if (kind, key) not in seen:
            seen.add((kind, key))
            first.append((kind, key, extra))
    return first


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


def manifest_entries(
    stored: Sequence[tuple[Member, PutResult]], recorded: Sequence[StoredOccurrence]
) -> list[ManifestMember]:
    """The drop manifest's lines for a recorded batch (what `reindex` replays)."""
    return [
        ManifestMember(
            member.path, result.digest, occurrence.role, result.size, member.crc32,
            member.mtime_ns,
        )
        for (member, result), occurrence in zip(stored, recorded, strict=True)
    ]  # fmt: skip
