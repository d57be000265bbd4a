"""Where writers put members: a zip (deterministic dates) or a plain folder, and what they
record about each file they write (`PlacedFile`, `WrittenDrop`) for the ground truth."""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.support.chatgpt_gen.model import Asset, Conversation, LibEntry

ZIP_DATE = (2026, 1, 15, 10, 20, 30)


@dataclass(frozen=True)
class PlacedFile:
    """One written file and what its place tells a reader (per the linking spec)."""

    asset: Asset
    drop: Path  # the dropped zip or folder
    member: str  # the path inside it, nested zips joined with '!/'
    ids: tuple[tuple[str, str], ...]  # (file id, "name" | "map")
    conv_folder: str | None  # the conversation whose folder holds it
    name: str  # its original name, as a message's text would mention it
    dallelabs: bool = False  # from the privacy archive's DALL·E zips
    pages_of: str | None = None  # a rendered page of the document with this id


@dataclass
class WrittenDrop:
    """A drop as written: the files, the conversations (as this era writes them) and the
    library rows, which is all truth.py needs."""

    path: Path
    kind: str  # export | privacy
    era: str | None
    files: list[PlacedFile] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    library: list[LibEntry] = field(default_factory=list)


class Sink:
    """Members of a zip or a folder, written one after another."""

    def __init__(self, path: Path, zipped: bool):
        self.path = path
        self.zipped = zipped
        self.names: list[tuple[str, int]] = []
        self._zip: zipfile.ZipFile | None = None
        if zipped:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._zip = zipfile.ZipFile(path, "w", allowZip64=False)
        else:
            path.mkdir(parents=True, exist_ok=True)

    def write(self, member: str, data: bytes, *, compress: bool = True) -> None:
        with self.open(member, compress=compress) as out:
            out.write(data)

    @contextlib.contextmanager
    def open(self, member: str, *, compress: bool = True) -> Iterator[IO[bytes]]:
        """A stream to write one member, never held in memory whole."""
        counter = _Counter()
        if self._zip is not None:
            info = zipfile.ZipInfo(member, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with self._zip.open(info, "w") as raw:
                counter.inner = raw
                yield counter  # type: ignore[misc]
        else:
            target = self.path / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as raw:
                counter.inner = raw
                yield counter  # type: ignore[misc]
        self.names.append((member, counter.count))

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Counter(io.RawIOBase):
    """Counts what passes, so manifests can list sizes of streamed members."""

    def __init__(self) -> None:
        super().__init__()
        self.inner: IO[bytes] | None = None
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        assert self.inner is not None
        self.inner.write(data)
        self.count += len(data)
        return len(data)


def zip_bytes(members: list[tuple[str, bytes]], *, compress: bool = True) -> bytes:
    """An in-memory zip (for the nested zips of privacy archives and multi-part exports)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", allowZip64=False) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
