"""Walking a dropped folder, zip or single file as a stream of members, never unpacking.

A member is opened as a stream straight from the zip (or the file); nested zips are read
in place when they are stored uncompressed (a window onto the outer file) and spooled to
one temp file inside the state dir only when they are compressed, because `zipfile`
needs to seek. Unsafe members are yielded as `Rejected` so the caller records them and
goes on; a source that cannot be opened at all raises `SourceError`.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from mediasyncd.config import LimitsConfig
from mediasyncd.errors import SourceError
from mediasyncd.fs.guard import open_file, read_head, refusal
from mediasyncd.fs.pathtext import path_text
from mediasyncd.fs.tree import TreeWalk
from mediasyncd.sources.safety import (
    Budget,
    count_central_records,
    display_name,
    is_symlink_member,
    overlapping_entries,
    unsafe_name_reason,
    zip_member_limit_reason,
)
from mediasyncd.sources.wrapped_zip import WrappedZipError, repair_wrapped_offsets
from mediasyncd.sources.zipnames import open_zip

NESTED_SEPARATOR = "!/"
# Size of a zip local file header before its name (for where a member's data ends).
_LOCAL_HEADER = 30
_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


@dataclass(frozen=True)
class Member:
    """One file inside a source. `path` is '/'-separated; nested zips join with '!/'."""

    path: str
    size: int
    opener: Callable[[], BinaryIO]
    crc32: int | None = None
    # For plain files on disk: what the (inode, mtime, size) cache needs.
    disk_path: Path | None = None
    device: int | None = None
    inode: int | None = None
    # Files on disk: st_mtime_ns. Zip members: the entry's date, see zip_entry_mtime_ns.
    mtime_ns: int | None = None

    @property
    def name(self) -> str:
        """The last path component."""
        return self.path.rsplit("/", 1)[-1]

    def open(self) -> BinaryIO:
        return self.opener()


@dataclass(frozen=True)
class Rejected:
    """A member that was skipped, and why (recorded in member_failures)."""

    path: str
    reason: str
    # True when the member's data is damaged, not merely unsafe or over a limit (either
    # way the source ends partial, the member named among its problems).
    damaged: bool = False


def is_junk(path: str) -> bool:
    parts = path.split("/")
    return parts[-1] in _JUNK_NAMES or "__MACOSX" in parts


class ZipWindow(io.RawIOBase):
    """A read-only, seekable view of [start, start + length) of a seekable file."""

    def __init__(self, base: BinaryIO, start: int, length: int):
        self._base = base
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
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        elif whence == io.SEEK_END:
            self._pos = self._length + offset
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        remaining = self._length - self._pos
        if remaining <= 0:
            return 0
        want = min(len(buffer), remaining)
        self._base.seek(self._start + self._pos)
        data = self._base.read(want)
        count = len(data)
        buffer[:count] = data
        self._pos += count
        return count


def _data_offset(raw: BinaryIO, info: zipfile.ZipInfo) -> int:
    raw.seek(info.header_offset)
    header = raw.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local file header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return int(info.header_offset) + 30 + int(name_length) + int(extra_length)


# Maps an offset in a (nested) zip to an offset in the drop itself, for progress.
OffsetMap = Callable[[int], int]


class ContainerWalker:
    """Yields the members of one source, applying names, limits and nesting rules.

    `position` is how many bytes of the drop (as it lies on disk: compressed, nested zips
    included) the members yielded so far cover; it reaches `drop_size` when the walk ends.
    """

    def __init__(
        self,
        source: Path,
        limits: LimitsConfig,
        *,
        spool_dir: Path,
        expand: Callable[[str], bool] = lambda _path: False,
    ):
        self.source = source
        self.limits = limits
        self.spool_dir = spool_dir
        self.expand = expand
        self.budget = Budget(limits)
        self.position = 0

    # -- entry point -------------------------------------------------------------------

    def walk(self) -> Iterator[Member | Rejected]:
        try:
            st = self.source.lstat()
        except OSError as exc:
            raise SourceError(f"cannot read: {exc.strerror or exc}", source=self.source) from exc
        if stat.S_ISLNK(st.st_mode):
            raise SourceError("is a symbolic link; drop the file itself", source=self.source)
        reason = refusal(st)
        if reason is not None:
            raise SourceError(reason, source=self.source)
        if stat.S_ISDIR(st.st_mode):
            yield from self._walk_folder(self.source)
        else:
            if st.st_size == 0:
                raise SourceError("empty file", source=self.source)
            if is_zip_file(self.source):
                yield from self._walk_zip_path(self.source, prefix="", st=st, base=0)
            else:
                if self.source.suffix.lower() == ".zip":
                    raise SourceError("named .zip but not a zip archive", source=self.source)
                yield self._disk_member(self.source, path_text(self.source.name), st)
            self.position = st.st_size

    def _reached(self, offset: int) -> None:
        self.position = max(self.position, offset)

    # -- folders -------------------------------------------------------------------------

    def _walk_folder(self, root: Path) -> Iterator[Member | Rejected]:
        def on_error(_rel: str, exc: OSError) -> None:
            raise SourceError(f"cannot list folder: {exc.strerror or exc}", source=self.source)

        walk = TreeWalk(root, self.limits.max_folder_depth, on_error=on_error)
        for level in walk:
            yield from self._too_deep(walk)
            for entry in level.files:
                rel = path_text(entry.rel)
                if is_junk(rel):
                    continue
                reason = refusal(entry.st)
                if reason is not None:
                    yield Rejected(rel, _member_reason(reason))
                    continue
                base = self.position
                if self.expand(rel) and is_zip_file(entry.path):
                    yield from self._walk_zip_path(
                        entry.path, prefix=rel + NESTED_SEPARATOR, st=entry.st, base=base
                    )
                else:
                    yield self._disk_member(entry.path, rel, entry.st)
                self._reached(base + entry.st.st_size)
        yield from self._too_deep(walk)

    def _too_deep(self, walk: TreeWalk) -> Iterator[Rejected]:
        while walk.too_deep:
            rel = path_text(walk.too_deep.pop(0))
            yield Rejected(
                rel,
                f"folder nested deeper than limits.max_folder_depth "
                f"({self.limits.max_folder_depth}); not read",
            )

    def _disk_member(self, path: Path, rel: str, st: os.stat_result) -> Member:
        return Member(
            path=rel,
            size=st.st_size,
            opener=lambda: open_file(path, st),
            disk_path=path,
            device=st.st_dev,
            inode=st.st_ino,
            mtime_ns=st.st_mtime_ns,
        )

    # -- zips ------------------------------------------------------------------------------

    def _walk_zip_path(
        self, path: Path, prefix: str, st: os.stat_result, base: int
    ) -> Iterator[Member | Rejected]:
        try:
            handle = open_file(path, st)
        except OSError as exc:
            raise self._error(f"cannot read: {exc.strerror or exc}", prefix) from exc
        with handle:
            yield from self._walk_zip(handle, prefix, depth=0, to_drop=lambda at: base + at)

    def _open_zip(self, handle: BinaryIO, prefix: str) -> zipfile.ZipFile:
        archive = self._open_zipfile(handle, prefix)
        try:
            # Over 4 GiB without ZIP64, offsets wrapped (real ChatGPT exports); see
            # wrapped_zip for why zipfile misreads these.
            repair_wrapped_offsets(archive, handle)
        except (WrappedZipError, OSError) as exc:
            archive.close()
            raise self._error(str(exc), prefix) from exc
        return archive

    def _open_zipfile(self, handle: BinaryIO, prefix: str) -> zipfile.ZipFile:
        try:
            return open_zip(handle)
        except zipfile.BadZipFile as exc:
            handle.seek(0)
            head = handle.read(4)
            if not head:
                raise self._error("empty file, not a zip", prefix) from exc
            if head == b"PK\x03\x04":
                raise self._error(
                    f"truncated or damaged zip (no readable central directory): {exc}", prefix
                ) from exc
            raise self._error(f"not a zip archive: {exc}", prefix) from exc
        except UnicodeDecodeError as exc:
            # zipfile refuses the whole archive for one such name; say which (found by the
            # hostile corpus: the message named a byte position, not the member).
            name = bytes(exc.object).decode("utf-8", "backslashreplace")
            raise self._error(
                f"member name '{name}' is marked UTF-8 but is not; cannot read the zip", prefix
            ) from exc
        except (OSError, ValueError, EOFError, NotImplementedError) as exc:
            # NotImplementedError: a zip "version needed" zipfile does not support.
            raise self._error(f"cannot read the zip: {exc}", prefix) from exc

    def _error(self, message: str, prefix: str) -> SourceError:
        member = prefix[: -len(NESTED_SEPARATOR)] if prefix else None
        return SourceError(message, source=self.source, member=member)

    def _walk_zip(
        self, handle: BinaryIO, prefix: str, depth: int, to_drop: OffsetMap
    ) -> Iterator[Member | Rejected]:
        allowed = self.limits.max_members - self.budget.members_seen
        try:
            # Counted from the raw directory first: zipfile would hold every entry in memory.
            counted = count_central_records(handle, stop_after=allowed)
        except OSError as exc:
            raise self._error(f"cannot read: {exc.strerror or exc}", prefix) from exc
        if counted > allowed:
            raise self._error(
                f"holds more than {allowed} members, over limits.max_members "
                f"({self.limits.max_members})",
                prefix,
            )
        archive = self._open_zip(handle, prefix)
        with archive:
            infos = archive.infolist()
            if len(infos) + self.budget.members_seen > self.limits.max_members:
                raise self._error(
                    f"holds {len(infos)} members, over limits.max_members "
                    f"({self.limits.max_members})",
                    prefix,
                )
            overlap = overlapping_entries(infos)
            if overlap:
                raise self._error(overlap, prefix)
            seen: set[str] = set()
            for info in infos:
                self.budget.members_seen += 1
                yield from self._zip_member(archive, handle, info, prefix, depth, seen, to_drop)
                # Where this member's data ends (its local extra field aside): zips are
                # read in directory order, which is nearly always file order.
                self._reached(to_drop(_data_end(info)))

    def _zip_member(
        self,
        archive: zipfile.ZipFile,
        handle: BinaryIO,
        info: zipfile.ZipInfo,
        prefix: str,
        depth: int,
        seen: set[str],
        to_drop: OffsetMap,
    ) -> Iterator[Member | Rejected]:
        raw_name = info.orig_filename
        path = prefix + display_name(info.filename)
        if not info.filename:
            yield Rejected(
                prefix + (display_name(raw_name) or "<empty>"), "member has an empty name"
            )
            return
        reason = unsafe_name_reason(raw_name)
        if reason:
            yield Rejected(prefix + display_name(raw_name.replace("\x00", "\\x00")), reason)
            return
        if info.is_dir() or is_junk(info.filename):
            return
        if is_symlink_member(info):
            yield Rejected(path, "symbolic link member; not followed")
            return
        if info.filename in seen:
            yield Rejected(path, "duplicate member name; the first entry with this name was used")
            return
        seen.add(info.filename)
        limit_reason = zip_member_limit_reason(info, self.limits)
        if limit_reason:
            yield Rejected(path, limit_reason)
            return
        if info.file_size > self.budget.remaining_bytes():
            yield Rejected(
                path,
                f"source is over limits.max_total_bytes ({self.limits.max_total_bytes})",
            )
            return
        if info.flag_bits & 0x1:
            yield Rejected(path, "encrypted member; cannot be read")
            return
        if self.expand(info.filename) and info.filename.lower().endswith(".zip"):
            if depth + 1 > self.limits.max_nesting_depth:
                yield Rejected(
                    path,
                    f"zip nested deeper than limits.max_nesting_depth "
                    f"({self.limits.max_nesting_depth})",
                )
                return
            yield from self._nested(
                archive, handle, info, path + NESTED_SEPARATOR, depth + 1, to_drop
            )
            return
        self.budget.bytes_used += info.file_size
        yield Member(
            path=path,
            size=info.file_size,
            opener=lambda: cast(BinaryIO, archive.open(info)),
            crc32=info.CRC,
            mtime_ns=zip_entry_mtime_ns(info),
        )

    def _nested(
        self,
        archive: zipfile.ZipFile,
        handle: BinaryIO,
        info: zipfile.ZipInfo,
        prefix: str,
        depth: int,
        to_drop: OffsetMap,
    ) -> Iterator[Member | Rejected]:
        try:
            yield from self._nested_members(archive, handle, info, prefix, depth, to_drop)
        except SourceError as exc:
            # A damaged inner zip costs only itself: the outer archive's other members
            # still land (every check that raises runs before the inner zip's first member).
            yield Rejected(prefix[: -len(NESTED_SEPARATOR)], exc.reason, damaged=True)

    def _nested_members(
        self,
        archive: zipfile.ZipFile,
        handle: BinaryIO,
        info: zipfile.ZipInfo,
        prefix: str,
        depth: int,
        to_drop: OffsetMap,
    ) -> Iterator[Member | Rejected]:
        if info.compress_type == zipfile.ZIP_STORED:
            try:
                start = _data_offset(handle, info)
            except (OSError, zipfile.BadZipFile) as exc:
                raise self._error(f"cannot locate nested zip: {exc}", prefix) from exc
            window = io.BufferedReader(ZipWindow(handle, start, info.compress_size), 1 << 16)
            yield from self._walk_zip(
                cast(BinaryIO, window), prefix, depth, lambda at: to_drop(start + at)
            )
            return
        # Compressed nested zip: zipfile needs to seek, so spool it once into the state dir.
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.spool_dir) as spool:
            try:
                with archive.open(info) as stream:
                    shutil.copyfileobj(stream, spool, 1 << 20)
            except (
                OSError,
                zipfile.BadZipFile,
                EOFError,
                NotImplementedError,
                RuntimeError,
                ValueError,
                zlib.error,
            ) as exc:
                # NotImplementedError: a compression zipfile lacks (Deflate64, which Windows
                # uses for big files; found by atheris), RuntimeError: encrypted,
                # ValueError: a local header's name marked UTF-8 that is not (atheris),
                # zlib.error: a damaged deflate stream (also found by atheris).
                raise self._error(f"cannot read nested zip: {exc}", prefix) from exc
            spooled = max(1, spool.tell())
            spool.seek(0)
            # An offset in the spooled copy stands for the same share of the compressed
            # member in the outer zip.
            start = _data_end(info) - info.compress_size
            yield from self._walk_zip(
                spool,
                prefix,
                depth,
                lambda at: to_drop(start + at * info.compress_size // spooled),
            )


def _data_end(info: zipfile.ZipInfo) -> int:
    """Where a member's data ends in its zip, near enough for progress (the local extra
    field, unknown without reading the local header, is taken as empty)."""
    name_length = len(info.orig_filename.encode("utf-8", "surrogateescape"))
    return int(info.header_offset) + _LOCAL_HEADER + name_length + int(info.compress_size)


def drop_size(path: Path, max_depth: int) -> int | None:
    """The bytes of a drop on disk: a file's size, the sum of a folder's regular files
    down to `max_depth` (what `ContainerWalker.position` counts up to); None when it
    cannot be read. Walked like the ingest walks it: never through a link, never deeper."""
    try:
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    with contextlib.suppress(OSError):
        for level in TreeWalk(path, max_depth):
            total += sum(e.st.st_size for e in level.files if stat.S_ISREG(e.st.st_mode))
    return total


def zip_entry_mtime_ns(info: zipfile.ZipInfo) -> int | None:
    """A zip entry's date_time as nanoseconds, the wall-clock fields read as if UTC.

    Zip dates carry no zone; readers that use them as a clock (image dumps) re-read the
    fields in their configured zone. None when the fields are not a valid date.
    """
    try:
        stamp = datetime(*info.date_time, tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    return int(stamp.timestamp()) * 1_000_000_000


def is_zip_file(path: Path) -> bool:
    """A file that starts like a zip (local header or an empty archive's end record).
    Never follows a symlink or opens a FIFO (see fsguard)."""
    return read_head(path, 4) in (b"PK\x03\x04", b"PK\x05\x06")


def _member_reason(reason: str) -> str:
    """A refusal worded for a member ("is a FIFO; not read" -> "a FIFO; not read")."""
    if reason.startswith("is a symbolic link"):
        return "symbolic link; not followed"
    return reason.removeprefix("is ")
