"""Storing one member of a drop and recording it: the object first (streamed into the
store, or found there already), then its blob, occurrence and keys in the index.

A member is found stored already without writing when the index's file cache knows the
file on disk unchanged, or a zip member's CRC-32 and size point at an object the index
knows (re-hashed first: only a known object is trusted). A file on disk is checked after
hashing: changed meanwhile, it is read again (FileChangedError).
"""

from __future__ import annotations

from typing import Any

from mediasyncd.config import Config
from mediasyncd.errors import FileChangedError, MemberRejected, SourceError
from mediasyncd.fs.pathtext import path_text
from mediasyncd.index import Index, objects, sources
from mediasyncd.sources.base import SourceHandler, StoredOccurrence
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult, SizeLimit, Store


class MemberWriter:
    def __init__(self, index: Index, store: Store, config: Config):
        self.index = index
        self.store = store
        self.config = config

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
                if self._known(hashed.digest) and self.store.has(hashed.digest):
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
