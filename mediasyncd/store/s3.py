"""The S3 store (`S3Store`): the Store interface on S3 or an S3-compatible service.

An object is the exact bytes of a file at `PREFIX/<2 hex>/<30 hex>` of its XXH3-128
digest, written once; objects set aside by verify go under `PREFIX/quarantine/`.

Writing. The digest is known only after the last byte, and S3 cannot rename, so a put
first spools the stream while it is hashed: in memory up to `SPOOL_MEMORY` (16 MiB, most
photos and documents), past that in an anonymous temp file in `<state>/tmp` (one member
at a time, so memory stays bounded whatever the size). Then it uploads to the final key
once, with the SHA-256 of the bytes (S3 refuses bytes that do not match it) and
`If-None-Match: *`, so an object is never overwritten: a key already taken is a hit, and
the object there is checked like the local store checks one (its size; its bytes when the
index does not vouch for it, since an object nobody vouches for may be a killed writer's
leftover or planted; with `compare_bytes_on_hit`, always). Objects over
`MULTIPART_THRESHOLD` go up as a multipart upload to the final key, each part with its
own SHA-256, completed with `If-None-Match: *`; an interrupted one never becomes an
object (it is aborted, and `remove_stale_temp_files` aborts a dead writer's after a day).
bench/s3_put_strategies.py measured this against uploading to a temporary key and
copying it into place server-side (BENCHMARKS.md): spooling sends the bytes once and
skips the upload of an object that is there already.

Time. S3 cannot change an object's time without rewriting it, and gc's grace period
needs one (an ingest that re-uses an old, unreferenced object must make it young
again). `touch` copies the object onto itself server-side with a metadata stamp, which
sets LastModified to now, but only when it is older than `touch_after_seconds` (half of
gc's grace period): an object touched once stays young for at least that long, so a
re-drop of 10,000 photos costs 10,000 HEADs and few or no copies. The ingest lock keeps
gc and ingests apart as with the local store.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import math
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Final

from mediasyncd import faults
from mediasyncd.errors import CollisionError, MemberRejected, StoreError
from mediasyncd.s3.client import is_missing, is_precondition_failed, store_error
from mediasyncd.s3.reader import open_object
from mediasyncd.s3.url import S3Url, parse_s3_url
from mediasyncd.store.base import ObjectStat, PutResult, SizeLimit, Store, StoredObject
from mediasyncd.store.digest import CHUNK_SIZE, is_digest, new_hasher
from mediasyncd.store.mediatype import SNIFF_BYTES, sniff

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB: Final = 1024 * 1024
SPOOL_MEMORY: Final = 16 * MiB
MULTIPART_THRESHOLD: Final = 64 * MiB
PART_SIZE: Final = 64 * MiB
MAX_PARTS: Final = 10_000
QUARANTINE: Final = "quarantine/"
TOUCH_KEY: Final = "mediasyncd-touched"
# An unfinished multipart upload older than this belongs to a writer that died.
STALE_UPLOAD_SECONDS: Final = 86400.0
PLACE_ATTEMPTS: Final = 3


class _Taken(Exception):
    """The conditional write found the key taken."""


@dataclass(frozen=True)
class _Head:
    size: int
    mtime: float
    etag: str


class S3Store(Store):
    """Objects at `s3://BUCKET/PREFIX/<2 hex>/<30 hex>`."""

    def __init__(
        self,
        client: S3Client,
        url: S3Url,
        *,
        spool_dir: Path,
        compare_bytes_on_hit: bool = False,
        touch_after_seconds: float = 3600.0,
    ):
        self.client = client
        self.url = url
        self.bucket = url.bucket
        self.base = url.key_prefix
        self.spool_dir = spool_dir
        self.compare_bytes_on_hit = compare_bytes_on_hit
        self.touch_after_seconds = touch_after_seconds

    # -- names -------------------------------------------------------------------------

    def key_of(self, digest: str) -> str:
        if not is_digest(digest):
            raise StoreError(f"not a digest: {digest!r}", digest=digest)
        return f"{self.base}{digest[:2]}/{digest[2:]}"

    def location(self, digest: str) -> str:
        return self.url.key_url(self.key_of(digest))

    def _key_at(self, location: str) -> str:
        """The key of a location this store gave out (anything else is refused)."""
        mine = self.url.key_url(self.base)
        if not location.startswith(mine) or ".." in location.split("/"):
            raise StoreError(f"{location} is not in the store at {mine}")
        return location[len(self.url.key_url("")) :]

    def _digest_named(self, key: str) -> str | None:
        parts = key[len(self.base) :].split("/")
        if len(parts) == 2 and len(parts[0]) == 2 and is_digest(parts[0] + parts[1]):
            return parts[0] + parts[1]
        return None

    # -- reading -----------------------------------------------------------------------

    def ensure(self) -> None:
        """The bucket must exist and the credentials must open it (it is not created:
        that is the operator's choice of region, policy and lifecycle)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            if is_missing(exc):
                raise StoreError(f"the bucket of the store {self.url} does not exist") from exc
            raise store_error(exc, f"the store {self.url}") from exc

    def _head(self, key: str) -> _Head | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise store_error(exc, self.url.key_url(key)) from exc
        except BotoCoreError as exc:
            raise store_error(exc, self.url.key_url(key)) from exc
        return _Head(int(found["ContentLength"]), found["LastModified"].timestamp(), found["ETag"])

    def has(self, digest: str) -> bool:
        return self._head(self.key_of(digest)) is not None

    def stat(self, digest: str) -> ObjectStat | None:
        found = self._head(self.key_of(digest))
        return None if found is None else ObjectStat(found.size, found.mtime)

    def open(self, digest: str) -> BinaryIO:
        try:
            return open_object(self.client, self.bucket, self.key_of(digest))
        except OSError as exc:
            raise StoreError(f"object {digest} cannot be read: {exc}", digest=digest) from exc

    def open_location(self, location: str) -> BinaryIO:
        return open_object(self.client, self.bucket, self._key_at(location))

    def iterate(self, prefix: str = "") -> Iterator[StoredObject]:
        """Keys in S3's order (the digests' order); quarantine/ is not part of the store."""
        listed = self.base + (f"{prefix[:2]}/{prefix[2:]}" if len(prefix) >= 2 else prefix)
        for entry in self._list(listed):
            key = entry["Key"]
            if key.startswith(self.base + QUARANTINE):
                continue
            yield StoredObject(
                self.url.key_url(key),
                self._digest_named(key),
                int(entry["Size"]),
                entry["LastModified"].timestamp(),
            )

    def _list(self, prefix: str) -> Iterator[Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        try:
            for page in pages:
                yield from page.get("Contents", [])
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, self.url.key_url(prefix)) from exc

    # -- changing what is there ----------------------------------------------------------

    def remove(self, location: str) -> None:
        self._delete(self._key_at(location))

    def _delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            if not is_missing(exc):
                raise store_error(exc, self.url.key_url(key)) from exc

    def quarantine(self, location: str, label: str) -> str:
        """Copied under quarantine/ (server-side), then removed from its name."""
        key = self._key_at(location)
        target = f"{self.base}{QUARANTINE}{label}-{secrets.token_hex(4)}"
        self._copy(key, target, etag=None)
        self._delete(key)
        return self.url.key_url(target)

    def touch(self, digest: str) -> None:
        """Make an object old enough to matter young again (see the module docstring);
        best effort, as the local store's utime is."""
        key = self.key_of(digest)
        with contextlib.suppress(StoreError):
            self._touch_key(key, self._head(key))

    def _touch_key(self, key: str, found: _Head | None) -> None:
        if found is None or time.time() - found.mtime < self.touch_after_seconds:
            return
        self._copy(key, key, etag=found.etag, metadata={TOUCH_KEY: f"{time.time():.0f}"})

    def _copy(
        self, source: str, target: str, *, etag: str | None, metadata: dict[str, str] | None = None
    ) -> None:
        """A server-side copy (multipart for objects past 5 GB: boto3's managed copy).
        With `etag`, only of that version of the source."""
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        extra: dict[str, Any] = {"MetadataDirective": "REPLACE", "Metadata": metadata or {}}
        if etag is not None:
            extra["CopySourceIfMatch"] = etag
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": source},
                self.bucket,
                target,
                ExtraArgs=extra,
                Config=TransferConfig(multipart_threshold=5 * 1024 * MiB, use_threads=False),
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, self.url.key_url(source)) from exc

    def remove_stale_temp_files(self) -> int:
        """Abort multipart uploads under the prefix that a dead writer left (older than a
        day: no live put takes that long); returns how many."""
        from botocore.exceptions import BotoCoreError, ClientError

        removed = 0
        cutoff = time.time() - STALE_UPLOAD_SECONDS
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.base
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() < cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
        except (ClientError, BotoCoreError):
            return removed  # a service without the call, or no permission: nothing to do
        return removed

    # -- writing -----------------------------------------------------------------------

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        limit: SizeLimit | None = None,
        want_sha256: bool = False,
        should_abort: Callable[[], bool] | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> PutResult:
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the spool folder {self.spool_dir}: {exc}") from exc
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=str(self.spool_dir)) as spool:
            spooled = _spool(stream, spool, limit, should_abort, reread=_rereadable(stream))
            faults.point("store.s3.after_spool")
            result = spooled.result
            if want_sha256:
                result = PutResult(result.digest, result.size, True, result.mime, spooled.sha)
            # Past the in-memory spool, a stream that can be read again (an object of a
            # watched bucket) is: its bytes never touch the local disk.
            source: IO[bytes] = stream if spooled.reread else spool
            return self._place(source, result, spooled, known)

    def _place(
        self,
        spool: IO[bytes],
        result: PutResult,
        spooled: _Spooled,
        known: Callable[[str], bool] | None,
    ) -> PutResult:
        key = self.key_of(result.digest)
        trusted = known is None or known(result.digest)
        if trusted:
            # Probably there already (the index knows it): a HEAD saves the upload.
            found = self._head(key)
            if found is not None:
                return self._hit(spool, key, found, result)
        for _attempt in range(PLACE_ATTEMPTS):
            try:
                self._upload(spool, key, result.size, spooled)
                return result
            except _Taken:
                found = self._head(key)
                if found is None:
                    continue  # removed in between (gc, quarantine): write it again
                if not trusted and not self._genuine(key, result.digest):
                    self.quarantine(self.url.key_url(key), f"untrusted-{result.digest}")
                    continue
                return self._hit(spool, key, found, result)
        raise StoreError(
            f"object {result.digest} could not be written to {self.url.key_url(key)}: "
            "the key kept changing under it",
            digest=result.digest,
        )

    def _hit(self, spool: IO[bytes], key: str, found: _Head, result: PutResult) -> PutResult:
        where = self.url.key_url(key)
        if found.size != result.size:
            raise CollisionError(
                f"object {result.digest} exists with {found.size} bytes but the new content "
                f"has {result.size}: a digest collision or a damaged object (run "
                "`mediasyncd verify`)",
                digest=result.digest,
            )
        if self.compare_bytes_on_hit and not self._same_bytes(key, spool):
            raise CollisionError(
                f"object {result.digest} at {where} exists with different bytes of the same "
                "size: a digest collision or a damaged object (run `mediasyncd verify`)",
                digest=result.digest,
            )
        with contextlib.suppress(StoreError):
            self._touch_key(key, found)  # the HEAD just made says how old it is
        return PutResult(result.digest, result.size, False, result.mime, result.sha256)

    def _genuine(self, key: str, digest: str) -> bool:
        hasher = new_hasher()
        try:
            with open_object(self.client, self.bucket, key) as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    hasher.update(chunk)
        except OSError:
            return False
        return hasher.hexdigest() == digest

    def _same_bytes(self, key: str, spool: IO[bytes]) -> bool:
        spool.seek(0)
        try:
            with open_object(self.client, self.bucket, key) as handle:
                while True:
                    mine = spool.read(CHUNK_SIZE)
                    theirs = handle.read(len(mine)) if mine else handle.read(1)
                    if mine != theirs:
                        return False
                    if not mine:
                        return True
        except OSError:
            return False

    def _upload(self, spool: IO[bytes], key: str, size: int, spooled: _Spooled) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if size <= MULTIPART_THRESHOLD:
                spool.seek(0)
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=_Window(spool, 0, size),  # type: ignore[arg-type]
                    ContentLength=size,
                    ChecksumSHA256=_b64(spooled.sha),
                    IfNoneMatch="*",
                )
            else:
                self._upload_parts(spool, key, size, spooled.part_shas)
        except ClientError as exc:
            if is_precondition_failed(exc):
                raise _Taken from exc
            raise store_error(exc, f"cannot write to the store at {self.url.key_url(key)}") from exc
        except BotoCoreError as exc:
            raise store_error(exc, f"cannot write to the store at {self.url.key_url(key)}") from exc
        faults.point("store.s3.after_upload")

    def _upload_parts(self, spool: IO[bytes], key: str, size: int, part_shas: list[bytes]) -> None:
        part_size = max(PART_SIZE, math.ceil(size / MAX_PARTS))
        if part_size != PART_SIZE:
            part_shas = []  # parts larger than those hashed while spooling
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256"
        )["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, part_size), start=1):
                length = min(part_size, size - start)
                sha = part_shas[number - 1] if part_shas else _sha256_of(spool, start, length)
                spool.seek(start)
                answer = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload,
                    PartNumber=number,
                    Body=_Window(spool, start, length),  # type: ignore[arg-type]
                    ContentLength=length,
                    ChecksumSHA256=_b64(sha),
                )
                parts.append(
                    {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": _b64(sha)}
                )
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                IfNoneMatch="*",
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise


@dataclass(frozen=True)
class _Spooled:
    result: PutResult
    # The SHA-256 of the whole object, and of each PART_SIZE part of it.
    sha: bytes
    part_shas: list[bytes]
    # True: the bytes past the in-memory spool were not kept; read the stream again.
    reread: bool


def _rereadable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable()) and stream.tell() == 0
    except (AttributeError, OSError, ValueError):
        return False


def _spool(
    stream: BinaryIO,
    spool: IO[bytes],
    limit: SizeLimit | None,
    should_abort: Callable[[], bool] | None,
    *,
    reread: bool = False,
) -> _Spooled:
    """Copy the stream into the spool while hashing it (XXH3-128 for its name, SHA-256
    for the upload). With `reread`, bytes past the in-memory spool are hashed but not
    kept: the upload reads them from the stream again."""
    hasher = new_hasher()
    sha = hashlib.sha256()
    part = hashlib.sha256()
    parts: list[bytes] = []
    size = 0
    head = b""
    kept = True
    try:
        while chunk := stream.read(CHUNK_SIZE):
            if limit is not None and size + len(chunk) > limit.max_bytes:
                raise MemberRejected(limit.reason, source=limit.source, member=limit.member)
            if should_abort is not None and should_abort():
                raise StoreError("ingest interrupted")
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            hasher.update(chunk)
            sha.update(chunk)
            part = _hash_parts(part, parts, size, chunk)
            size += len(chunk)
            if kept and reread and size > SPOOL_MEMORY:
                kept = False
            if kept:
                if size > SPOOL_MEMORY >= size - len(chunk):
                    faults.point("store.s3.spool_to_disk")  # the spool leaves memory
                spool.write(chunk)
        spool.flush()
    except OSError as exc:
        raise StoreError(f"cannot spool an upload to the store: {exc}") from exc
    if size % PART_SIZE or not size:
        parts.append(part.digest())
    stream_again = not kept
    if stream_again:
        stream.seek(0)
    result = PutResult(hasher.hexdigest(), size, True, sniff(head), None)
    return _Spooled(result, sha.digest(), parts, stream_again)


def _hash_parts(part: Any, parts: list[bytes], offset: int, chunk: bytes) -> Any:
    """Feed `chunk` (at `offset`) to the SHA-256 of the PART_SIZE parts it falls in."""
    while chunk:
        room = PART_SIZE - offset % PART_SIZE
        part.update(chunk[:room])
        if len(chunk) >= room:
            parts.append(part.digest())
            part = hashlib.sha256()
        offset += min(room, len(chunk))
        chunk = chunk[room:]
    return part


def _sha256_of(spool: IO[bytes], start: int, length: int) -> bytes:
    sha = hashlib.sha256()
    window = _Window(spool, start, length, upload=False)
    spool.seek(start)
    while chunk := window.read(CHUNK_SIZE):
        sha.update(chunk)
    return sha.digest()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _Window(io.RawIOBase):
    """`length` bytes of the spool from `start`, as an upload body botocore can rewind
    (it does on a retry). Passes the fault point `store.s3.mid_upload` once the first
    chunk has been sent, so crash tests can kill a writer in the middle of an upload."""

    def __init__(self, spool: IO[bytes], start: int, length: int, *, upload: bool = True):
        super().__init__()
        self._upload = upload
        self._spool = spool
        self._start = start
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + offset))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        wanted = left if size is None or size < 0 else min(size, left)
        if wanted <= 0:
            return b""
        if self._pos and self._upload:
            faults.point("store.s3.mid_upload")
        self._spool.seek(self._start + self._pos)
        data = self._spool.read(wanted)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __len__(self) -> int:
        return self._length


def open_s3_store(
    url: str,
    *,
    endpoint_url: str,
    spool_dir: Path,
    compare_bytes_on_hit: bool = False,
    touch_after_seconds: float = 3600.0,
) -> S3Store:
    """The store at `url` (`s3://BUCKET/PREFIX`), for `[store] url`."""
    from mediasyncd.s3.client import make_client

    try:
        parsed = parse_s3_url(url)
    except ValueError as exc:
        raise StoreError(f"store.url: {exc}") from exc
    client = make_client(endpoint_url, setting="store.url")
    return S3Store(
        client,
        parsed,
        spool_dir=spool_dir,
        compare_bytes_on_hit=compare_bytes_on_hit,
        touch_after_seconds=touch_after_seconds,
    )
