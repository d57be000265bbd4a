"""The store behind one interface: what the rest of mediasyncd may ask of it.

Objects are named by the XXH3-128 digest of their bytes and written once. Code outside
`mediasyncd.store` puts streams, asks whether an object is there, opens it for reading,
and, for maintenance (verify, gc, reindex), iterates what the store holds and removes or
quarantines an entry. It never builds a path: a store on an object service has none. Only
what needs a local file (an export's hard links and reflinks) asks `local_path`, and
copies from `open` when there is none. docs/architecture.md, "The store", says how a
second store (S3) plugs in.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mediasyncd.errors import MemberRejected, StoreError
from mediasyncd.store.digest import CHUNK_SIZE, new_hasher
from mediasyncd.store.mediatype import SNIFF_BYTES, sniff


@dataclass(frozen=True)
class PutResult:
    digest: str
    size: int
    new: bool
    mime: str
    sha256: bytes | None = None


@dataclass(frozen=True)
class SizeLimit:
    """How many bytes one stream may yield before it is rejected (zip-bomb guard)."""

    max_bytes: int
    source: str
    member: str | None
    reason: str


@dataclass(frozen=True)
class ObjectStat:
    size: int
    # When the object was last written or used (seconds since the epoch): gc keeps
    # unreferenced objects younger than its grace period.
    mtime: float


@dataclass(frozen=True)
class StoredObject:
    """One entry of the store as iteration finds it: where it is, the digest its place
    names (None: the place names none), its size and time."""

    location: str
    digest: str | None
    size: int
    mtime: float
    # How the bytes are kept (mediasyncd.store.documents): "" as they are, ".z"
    # compressed, ".r" a recipe; `size` is then the stored size, not the original's.
    form: str = ""


class Store(abc.ABC):
    """A content-addressed object store."""

    @abc.abstractmethod
    def put_stream(
        self,
        stream: BinaryIO,
        *,
        limit: SizeLimit | None = None,
        want_sha256: bool = False,
        should_abort: Callable[[], bool] | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> PutResult:
        """Stream `stream` in, durable before it returns (inside `batch()`: durable at
        the next `sync_batch()`); the digest and whether it was new. `known(digest)` says
        whether the index vouches for an object already there (one it does not vouch for
        is checked before it is trusted)."""

    @abc.abstractmethod
    def has(self, digest: str) -> bool: ...

    @abc.abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """The object's bytes (StoreError when it cannot be read)."""

    @abc.abstractmethod
    def stat(self, digest: str) -> ObjectStat | None:
        """Size and time of the object, None when it is not there."""

    def size_of(self, digest: str) -> int | None:
        found = self.stat(digest)
        return None if found is None else found.size

    @abc.abstractmethod
    def touch(self, digest: str) -> None:
        """Mark an existing object as just used (gc's grace period starts again)."""

    @abc.abstractmethod
    def location(self, digest: str) -> str:
        """Where the object with this digest is (or would be), for messages."""

    @abc.abstractmethod
    def iterate(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every entry whose place starts with the digest prefix `prefix`, in order; with
        no prefix also the entries whose place names no digest."""

    @abc.abstractmethod
    def open_location(self, location: str) -> BinaryIO:
        """The bytes of an entry as iteration found it, whatever its place names."""

    @abc.abstractmethod
    def remove(self, location: str) -> None:
        """Remove the entry at `location` (gone already: nothing to do)."""

    @abc.abstractmethod
    def quarantine(self, location: str, label: str) -> str:
        """Move the entry out of the store's names, kept for a person to look at;
        returns where it went."""

    def local_path(self, digest: str) -> Path | None:
        """The object as a local file, when the store keeps it as one (an export hard
        links or reflinks it); None for a store that does not."""
        return None

    def local_root(self) -> Path | None:
        """The local folder the store lives under, if any (an export may not be
        written into it)."""
        return None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Inside, `put_stream` may return before its object is durable; the caller calls
        `sync_batch()` before the index names what it put. A store whose puts are durable
        on return keeps this default: nothing is deferred."""
        yield

    def sync_batch(self) -> None:  # noqa: B027 - durable on return: nothing is pending
        """Make every object put in this batch durable (and every unnamed object it found
        genuine on a hit): the barrier before the index transaction that names them."""

    def ensure(self) -> None:  # noqa: B027 - a store with nothing to prepare keeps this
        """Make the store ready to take objects."""

    def remove_stale_temp_files(self) -> int:
        """Remove what writers killed mid-put left behind; returns how many."""
        return 0

    # -- documents kept compressed or as recipes (mediasyncd.store.documents) --------------
    # A store that keeps no forms stores every object plainly; these defaults say so, and
    # the document layer then leaves documents as they are.

    def keeps_forms(self) -> bool:
        """Whether the store can keep objects compressed or as recipes."""
        return False

    def put_form(
        self,
        digest: str,
        form: str,
        payload: bytes,
        *,
        known: Callable[[str], bool] | None = None,
    ) -> bool:
        """Keep the object `digest` in `form` (its stored bytes are `payload`), durable
        before it returns; False when it was kept so already. `known(digest)` as for
        put_stream: an entry the index does not vouch for is checked first."""
        raise StoreError("this store keeps objects only as their plain bytes")

    def put_forms(
        self,
        items: Sequence[tuple[str, str, bytes]],
        *,
        known: Callable[[str], bool] | None = None,
    ) -> list[bool]:
        """put_form for each (digest, form, payload), all durable before it returns (a
        store may make them durable together)."""
        return [self.put_form(d, f, p, known=known) for d, f, p in items]

    def form_of(self, digest: str) -> str | None:
        """How the object is kept ("" plain, ".z", ".r"), None when it is not there."""
        return "" if self.has(digest) else None

    def drop_plain(self, digest: str) -> None:  # noqa: B027 - nothing to drop by default
        """Remove the plain copy of an object that is also kept in another form."""

    def superseded(self, digest: str) -> bool:
        """Whether gc dropped this document on purpose (a tombstone stands for it)."""
        return False

    def mark_superseded(self, digest: str) -> None:
        """Leave a tombstone for `digest` (durable before it returns); its other entries
        are then removed by the caller."""
        raise StoreError("this store keeps no tombstones")

    def locations(self, digest: str) -> list[str]:
        """Every entry that holds the object (its plain copy and its forms)."""
        return [self.location(digest)] if self.has(digest) else []

    def hash_stream(
        self, stream: BinaryIO, *, limit: SizeLimit | None = None, want_sha256: bool = False
    ) -> PutResult:
        """What putting `stream` would give, without writing it."""
        return hash_stream(stream, limit=limit, want_sha256=want_sha256)


def hash_stream(
    stream: BinaryIO, *, limit: SizeLimit | None = None, want_sha256: bool = False
) -> PutResult:
    """Hash without writing: used first when the bytes are probably stored already."""
    hasher = new_hasher()
    # hashlib loads OpenSSL (~7 ms): only ingests that keep SHA-256 pay for it.
    import hashlib

    sha = hashlib.sha256() if want_sha256 else None
    size = 0
    head = b""
    while chunk := stream.read(CHUNK_SIZE):
        size += len(chunk)
        if limit is not None and size > limit.max_bytes:
            raise MemberRejected(limit.reason, source=limit.source, member=limit.member)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        hasher.update(chunk)
        if sha is not None:
            sha.update(chunk)
    return PutResult(hasher.hexdigest(), size, False, sniff(head), sha.digest() if sha else None)
