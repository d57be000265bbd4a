"""The local object store (`ObjectStore`): the Store interface on a local filesystem.

An object is the exact bytes of a file, named by its XXH3-128 digest, at
`<state>/objects/<2 hex>/<30 hex>`, read-only. Writes follow restic and git: the bytes go to
a temp file while they are hashed, the file is fsynced, hard-linked to its final name
(`link()` never overwrites, so two writers racing on the same digest cannot clobber each
other), the temp name is removed and the shard folder fsynced. An object that already
exists is never rewritten; its size (and with `compare_bytes_on_hit`, its bytes) is
compared so a collision or a damaged object is reported instead of silently merged.

The temp file cannot live in the final shard folder because the digest is only known once
the last byte is read; it lives in `objects/` itself, on the same filesystem, and is fsynced
before it is linked so a crash can leave only an unreferenced temp file, never a
half-written object under a real name.

With `durability="batch"` (the default) the flushes move to the end of a batch: inside
`batch()` objects are written and linked without an fsync each, and `sync_batch()` makes
them durable together (mediasyncd.store.barrier) before the index names them. A power cut
before the barrier can then leave a torn object under a real name; the index never names
it, and an object the index does not name is re-hashed before it is trusted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Final, Literal

from mediasyncd import faults
from mediasyncd.errors import CollisionError, MemberRejected, StoreError
from mediasyncd.process import pid_alive
from mediasyncd.store import barrier, documents
from mediasyncd.store.barrier import Batch
from mediasyncd.store.base import ObjectStat, PutResult, SizeLimit, Store, StoredObject
from mediasyncd.store.digest import CHUNK_SIZE, is_digest, new_hasher
from mediasyncd.store.mediatype import SNIFF_BYTES, sniff

TEMP_PREFIX: Final = "tmp-"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Plain first: media objects, the most asked for, are only ever plain.
_FORMS_IN_ORDER: Final = (documents.PLAIN, *documents.FORMS)


class ObjectStore(Store):
    """Objects at `<root>/objects/<2 hex>/<30 hex>`, damaged ones in `<root>/quarantine`."""

    def __init__(
        self,
        root: Path,
        *,
        fsync: bool = True,
        compare_bytes_on_hit: bool = False,
        durability: Literal["batch", "object"] = "batch",
    ):
        self.root = root
        self.objects = root / "objects"
        self._objects_text = str(self.objects)
        self.quarantine_dir = root / "quarantine"
        self.fsync = fsync
        self.compare_bytes_on_hit = compare_bytes_on_hit
        self.durability = durability
        # The open batch of each thread (the daemon's worker and a CLI thread never share
        # one): None outside `batch()`.
        self._local = threading.local()
        # Flush calls made by batch barriers so far (syncfs: one per batch).
        self.barrier_calls = 0

    def ensure(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)

    def _create_temp(self, temp: Path) -> int:
        """A new temp file in the store; the store's folder is made the first time it is
        missing (not checked before every object: a stat and a mkdir per object)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            return os.open(temp, flags, 0o600)
        except FileNotFoundError:
            pass
        try:
            self.ensure()
        except OSError as exc:
            raise StoreError(f"cannot create the store at {self.objects}: {exc}") from exc
        return os.open(temp, flags, 0o600)

    def _make_shard(self, shard: str | Path) -> bool:
        """Make the shard folder if missing; whether it was created (then the store's
        folder must be synced too). One mkdir: EEXIST says it was there."""
        try:
            os.mkdir(shard)  # noqa: PTH102 - a str or a Path, see put_forms
        except FileExistsError:
            return False
        return True

    def path_of(self, digest: str) -> Path:
        """Where the object's file is (or would be): for this store's own use and its
        tests; everything else goes through the Store interface."""
        if not is_digest(digest):
            raise StoreError(f"not a digest: {digest!r}", digest=digest)
        return self.objects / digest[:2] / digest[2:]

    def form_path(self, digest: str, form: str) -> Path:
        """Where the object is kept in `form` ("" plain; mediasyncd.store.documents)."""
        path = self.path_of(digest)
        return path.with_name(path.name + form) if form else path

    def has(self, digest: str) -> bool:
        return self.form_of(digest) is not None

    def form_of(self, digest: str) -> str | None:
        # Strings and os.stat, not Path objects: asked for every member of every drop
        # (two Path objects and is_file per form cost 0.3 s of a 6,000-member re-drop).
        base = self._text_path(digest)
        for form in _FORMS_IN_ORDER:
            try:
                if stat.S_ISREG(os.stat(base + form).st_mode):  # noqa: PTH116 - see above
                    return form
            except (OSError, ValueError):
                continue
        return None

    def _text_path(self, digest: str) -> str:
        if not is_digest(digest):
            raise StoreError(f"not a digest: {digest!r}", digest=digest)
        return f"{self._objects_text}/{digest[:2]}/{digest[2:]}"

    def open(self, digest: str) -> BinaryIO:
        form = self.form_of(digest) or ""
        try:
            raw = open(self.form_path(digest, form), "rb")  # noqa: SIM115 - returned open
        except OSError as exc:
            raise StoreError(f"object {digest} cannot be read: {exc}", digest=digest) from exc
        try:
            return documents.open_encoded(raw, form, self.open)
        except OSError as exc:
            raise StoreError(f"object {digest} cannot be read: {exc}", digest=digest) from exc

    def stat(self, digest: str) -> ObjectStat | None:
        form = self.form_of(digest)
        if form is None:
            return None
        try:
            st = self.form_path(digest, form).stat()
            size = st.st_size if not form else self._original_size(digest, form)
        except (FileNotFoundError, documents.DamagedObject):
            return None
        return ObjectStat(st.st_size if size is None else size, st.st_mtime)

    def _original_size(self, digest: str, form: str) -> int | None:
        with open(self.form_path(digest, form), "rb") as raw:
            if form == documents.RECIPE:
                return documents.decode_recipe(raw)[0]
            return documents.stored_size(raw.read(32), form)

    def location(self, digest: str) -> str:
        return str(self.form_path(digest, self.form_of(digest) or ""))

    def locations(self, digest: str) -> list[str]:
        return [
            str(self.form_path(digest, form))
            for form in (documents.PLAIN, *documents.FORMS, documents.TOMBSTONE)
            if self.form_path(digest, form).is_file()
        ]

    def superseded(self, digest: str) -> bool:
        return self.form_path(digest, documents.TOMBSTONE).is_file()

    def mark_superseded(self, digest: str) -> None:
        tomb = self.form_path(digest, documents.TOMBSTONE)
        if tomb.exists():
            return
        tomb.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tomb, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self.fsync:
            fsync_dir(tomb.parent)

    def local_path(self, digest: str) -> Path | None:
        # A compressed document has no file an export could link.
        return self.path_of(digest) if not self.form_of(digest) else None

    def local_root(self) -> Path | None:
        return self.root

    # -- writing -------------------------------------------------------------------------

    def _batch(self) -> Batch | None:
        """The batch this thread's puts defer their flushes to, if any."""
        found: Batch | None = getattr(self._local, "batch", None)
        return found

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        if self.durability != "batch" or not self.fsync or self._batch() is not None:
            yield
            return
        self._local.batch = Batch()
        try:
            yield
        finally:
            # What was not synced is named by no index row: nothing to flush on the way out.
            self._local.batch = None

    def sync_batch(self) -> None:
        batch = self._batch()
        if batch is None:
            return
        try:
            self.barrier_calls += batch.sync(self.objects)
        except OSError as exc:
            raise StoreError(f"cannot make the store at {self.objects} durable: {exc}") from exc

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        limit: SizeLimit | None = None,
        want_sha256: bool = False,
        should_abort: Callable[[], bool] | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> PutResult:
        """Stream `stream` into the store; returns the digest and whether it was new.

        `known(digest)` says whether the index vouches for an object. On a hit on an
        object it does not vouch for (a killed ingest's leftover, or a file planted in
        the store) the object is re-hashed first and replaced if it is not what its name
        says: only the size is compared on a hit, so a planted file of the right size
        would otherwise stand in for the real bytes forever."""
        temp = self.objects / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        hasher = new_hasher()
        # hashlib loads OpenSSL (~7 ms): only ingests that keep SHA-256 pay for it.
        import hashlib

        sha = hashlib.sha256() if want_sha256 else None
        size = 0
        head = b""
        try:
            fd = self._create_temp(temp)
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    size += len(chunk)
                    if limit is not None and size > limit.max_bytes:
                        raise MemberRejected(limit.reason, source=limit.source, member=limit.member)
                    if should_abort is not None and should_abort():
                        raise StoreError("ingest interrupted")
                    if len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                    hasher.update(chunk)
                    if sha is not None:
                        sha.update(chunk)
                    out.write(chunk)
                faults.point("store.after_temp_write")
                out.flush()
                # Read-only before it gets its name: by the descriptor, not the path.
                os.fchmod(out.fileno(), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                if self.fsync and self._batch() is None:
                    os.fsync(out.fileno())
                faults.point("store.after_fsync")
            digest = hasher.hexdigest()
            result = PutResult(digest, size, True, sniff(head), sha.digest() if sha else None)
            return self._link_into_place(temp, result, known)
        except OSError as exc:
            raise StoreError(f"cannot write to the store at {self.objects}: {exc}") from exc
        finally:
            # NotADirectoryError: objects/ is not a folder, so no temp was made there.
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                os.unlink(temp)  # noqa: PTH108 - no Path method call per object

    def _link_into_place(
        self, temp: Path, result: PutResult, known: Callable[[str], bool] | None = None
    ) -> PutResult:
        final = self.path_of(result.digest)
        shard = final.parent
        shard_created = self._make_shard(shard)
        try:
            # No look first: link() never replaces, and most objects of a first ingest
            # are new (an lstat each cost 0.36 s of 15,000).
            os.link(temp, final)
        except FileExistsError:
            # Stored already (a re-drop, or another writer first): a hit, not an error;
            # an entry the index does not vouch for is checked before it is trusted.
            if not self._vouched(result.digest, known):
                self._replace_if_not_genuine(final, result.digest)
                return self._link_into_place(temp, result)
            self._check_hit(final, temp, result)
            return PutResult(result.digest, result.size, False, result.mime, result.sha256)
        faults.point("store.after_link")
        folders = (shard, self.objects) if shard_created else (shard,)
        batch = self._batch()
        if batch is not None:
            batch.add(result.digest, final, *folders)
        elif self.fsync:
            for folder in folders:
                fsync_dir(folder)
        return result

    def _vouched(self, digest: str, known: Callable[[str], bool] | None) -> bool:
        """Whether an object already under this name may be trusted without re-hashing:
        the index names it, or this thread's batch wrote it (no `known`: the caller
        checked it already)."""
        if known is None:
            return True
        batch = self._batch()
        return (batch is not None and digest in batch.digests) or known(digest)

    def _replace_if_not_genuine(self, final: Path, digest: str) -> None:
        """Quarantine `final` unless it is a regular file whose bytes hash to `digest`.

        A genuine one may be another writer's object that is not durable yet (its batch
        has not reached its barrier): it is made durable with what this put belongs to
        before the index names it."""
        if not _is_genuine(final, digest):
            with contextlib.suppress(FileNotFoundError):
                self.quarantine_object(final, f"untrusted-{digest}")
            return
        batch = self._batch()
        if batch is not None:
            batch.add(digest, final, final.parent)
        elif self.fsync:
            with contextlib.suppress(OSError):
                fd = os.open(final, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                fsync_dir(final.parent)

    def keeps_forms(self) -> bool:
        return True

    def put_form(
        self,
        digest: str,
        form: str,
        payload: bytes,
        *,
        known: Callable[[str], bool] | None = None,
    ) -> bool:
        return self.put_forms([(digest, form, payload)], known=known)[0]

    def put_forms(
        self,
        items: Sequence[tuple[str, str, bytes]],
        *,
        known: Callable[[str], bool] | None = None,
    ) -> list[bool]:
        """Keep objects in their forms, durable together: each temp file is written, the
        filesystem synced once (syncfs), each temp linked to its name (never overwrites),
        each shard folder synced once. An existing entry the index does not vouch for is
        decoded and re-hashed first, and set aside unless genuine."""
        self.ensure()
        # Strings and os calls, not Path objects: called for every new conversation of
        # a first ingest (Path objects and their methods cost 0.7 s of 10,000).
        written: list[tuple[int, str, str]] = []
        results = [False] * len(items)
        try:
            for number, (digest, form, payload) in enumerate(items):
                final = self._form_target(digest, form, known)
                if final is None:
                    continue
                temp = f"{self._objects_text}/{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
                written.append((number, final, temp))
                _write_read_only(temp, payload)
                faults.point("store.form_after_write")
            if written and self.fsync:
                _sync_files(self.objects, [Path(temp) for _, _, temp in written])
            shards: set[str] = set()
            created = False
            for number, final, temp in written:
                shard = os.path.dirname(final)  # noqa: PTH120 - strings here
                if shard not in shards and self._make_shard(shard):
                    created = True
                try:
                    os.link(temp, final)
                except FileExistsError:
                    continue  # another writer kept it first
                faults.point("store.form_after_link")
                results[number] = True
                shards.add(shard)
            if self.fsync and (shards or created):
                # The links durable by one more syncfs, as the members' batch barrier
                # makes its links: an fsync per shard folder cost 2,750 fsyncs (0.5 s)
                # in a first ingest of 4,000 conversations.
                folders = [Path(f) for f in sorted(shards)]
                folders += [self.objects] if created else []
                _sync_files(self.objects, folders, directories=True)
            return results
        except OSError as exc:
            raise StoreError(f"cannot write to the store at {self.objects}: {exc}") from exc
        finally:
            for _, _, temp in written:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)  # noqa: PTH108 - strings here

    def _form_target(
        self, digest: str, form: str, known: Callable[[str], bool] | None
    ) -> str | None:
        """Where to link the object in `form`; None when a trusted entry is there."""
        if form not in documents.FORMS:
            raise StoreError(f"unknown object form {form!r}", digest=digest)
        final = self._text_path(digest) + form
        if os.path.exists(final):  # noqa: PTH110 - strings here
            if known is None or known(digest) or self._form_is_genuine(digest, form):
                with contextlib.suppress(OSError):
                    os.utime(final, follow_symlinks=False)
                return None
            with contextlib.suppress(FileNotFoundError):
                self.quarantine_object(Path(final), f"untrusted-{digest}{form}")
        return final

    def _form_is_genuine(self, digest: str, form: str) -> bool:
        try:
            raw = open(self.form_path(digest, form), "rb")  # noqa: SIM115 - closed below
            with documents.open_encoded(raw, form, self.open) as handle:
                hasher = new_hasher()
                while chunk := handle.read(CHUNK_SIZE):
                    hasher.update(chunk)
        except (OSError, StoreError):
            return False
        return hasher.hexdigest() == digest

    def drop_plain(self, digest: str) -> None:
        """Remove the plain copy once another form holds the object (durably)."""
        if not any(self.form_path(digest, f).is_file() for f in documents.FORMS):
            return
        plain = self.path_of(digest)
        try:
            plain.unlink()
        except FileNotFoundError:
            return
        if self.fsync:
            fsync_dir(plain.parent)

    def touch(self, digest: str) -> None:
        """Mark an existing object as just used, as git does on a hit.

        gc keeps unreferenced objects younger than its grace period; an ingest that is about
        to name an old, unreferenced object must make it young again first.
        """
        # Never through a symlink planted in the store: its target is outside the state
        # dir, which mediasyncd never writes (not even a timestamp).
        plain = self._text_path(digest)
        try:
            # A media object is only ever plain, and the most asked for: no stat first.
            os.utime(plain, follow_symlinks=False)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                os.utime(plain + (self.form_of(digest) or ""), follow_symlinks=False)
        except OSError:
            pass

    def _check_hit(self, final: Path, temp: Path, result: PutResult) -> None:
        with contextlib.suppress(OSError):
            os.utime(final, follow_symlinks=False)
        existing = final.stat().st_size
        if existing != result.size:
            raise CollisionError(
                f"object {result.digest} exists with {existing} bytes but the new content has "
                f"{result.size}: a digest collision or a damaged object (run `mediasyncd verify`)",
                digest=result.digest,
                path=final,
            )
        if self.compare_bytes_on_hit and not _same_bytes(final, temp):
            raise CollisionError(
                f"object {result.digest} exists with different bytes of the same size: "
                "a digest collision or a damaged object (run `mediasyncd verify`)",
                digest=result.digest,
                path=final,
            )

    # -- the whole store ---------------------------------------------------------------

    def iterate(self, prefix: str = "") -> Iterator[StoredObject]:
        for path, digest, form in self._files(prefix):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # removed since the listing
            yield StoredObject(str(path), digest, st.st_size, st.st_mtime, form)

    def _files(self, prefix: str) -> Iterator[tuple[Path, str | None, str]]:
        """Every file under objects/ (or the shard of `prefix`) with the digest its place
        names (None: not a valid name); temp files are not objects."""
        if not self.objects.exists():
            return
        shards = [self.objects / prefix[:2]] if prefix else sorted(self.objects.iterdir())
        for shard in shards:
            if not shard.is_dir():
                if not prefix and not shard.name.startswith(TEMP_PREFIX):
                    yield shard, None, ""
                continue
            for entry in sorted(shard.iterdir()):
                name = shard.name + entry.name
                if not name.startswith(prefix):
                    continue
                kinds = (*documents.FORMS, documents.TOMBSTONE)
                form = entry.suffix if entry.suffix in kinds else ""
                name = name[: len(name) - len(form)]
                valid = len(shard.name) == 2 and is_digest(name)
                yield entry, name if valid else None, form if valid else ""

    def _entry(self, location: str) -> Path:
        path = Path(location)
        if not path.is_relative_to(self.objects):
            raise StoreError(f"{location} is not in the store at {self.objects}")
        return path

    def open_location(self, location: str) -> BinaryIO:
        return open(self._entry(location), "rb")

    def remove(self, location: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._entry(location).unlink()

    def quarantine(self, location: str, label: str) -> str:
        return str(self.quarantine_object(self._entry(location), label))

    def temp_files(self) -> list[Path]:
        if not self.objects.exists():
            return []
        return sorted(p for p in self.objects.iterdir() if p.name.startswith(TEMP_PREFIX))

    def remove_stale_temp_files(self) -> int:
        """Temp files of dead writers (their pid is gone); ours and live ones are kept."""
        removed = 0
        for temp in self.temp_files():
            pid_text = temp.name[len(TEMP_PREFIX) :].split("-", 1)[0]
            if pid_text.isdigit() and pid_alive(int(pid_text)):
                continue
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
                removed += 1
        return removed

    def quarantine_object(self, path: Path, label: str) -> Path:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{label}-{secrets.token_hex(4)}"
        path.replace(target)
        if self.fsync:
            fsync_dir(path.parent)
            fsync_dir(self.quarantine_dir)
        return target


def _write_read_only(path: str, payload: bytes) -> None:
    """A new file (never an existing one) holding `payload`, read-only once written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    finally:
        os.close(fd)


def _sync_files(folder: Path, files: Sequence[Path], *, directories: bool = False) -> None:
    """Make the files (or folders and their entries) durable: one syncfs(2) of their
    filesystem where there is one (a batch of small objects then costs one sync, not one
    fsync each), else each fsync."""
    if barrier.syncfs(folder):
        return
    for path in files:
        barrier.fsync_path(path, directory=directories)


def _is_genuine(path: Path, digest: str) -> bool:
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            hasher = new_hasher()
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)
    except OSError:
        return False
    return hasher.hexdigest() == digest


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca = fa.read(CHUNK_SIZE)
            cb = fb.read(CHUNK_SIZE)
            if ca != cb:
                return False
            if not ca:
                return True
