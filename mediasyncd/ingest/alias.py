"""A copy of an ingested drop at another path (issue 14): recognised by its size and
whole-file XXH3-128, recorded as an alias of the drop it copies (mediasyncd.index.aliases)
without reading a member, writing an occurrence or rematching anything.

The whole-file digest is exact, the same trust as the store's own object names; a zip's
central directory (sizes and CRC-32s) is what a hostile archive controls, so it is not
enough. It costs one sequential read of the file, which also brings the file into the
page cache for the walk that follows when the drop is not a copy.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from mediasyncd.errors import FileChangedError
from mediasyncd.index import aliases, objects, sources
from mediasyncd.ingest.fingerprint import fingerprint_of
from mediasyncd.logconfig import get_logger
from mediasyncd.store.digest import new_hasher
from mediasyncd.store.manifest import MANIFEST_MEMBER, read_manifest
from mediasyncd.timeutil import utc_now_iso

if TYPE_CHECKING:
    from mediasyncd.ingest.pipeline import Ingester
    from mediasyncd.ingest.summary import IngestSummary

log = get_logger("mediasyncd.ingest")

READ_BYTES = 1 << 20


def whole_file_content(path: Path, fingerprint: str, source: str) -> str | None:
    """`<size>:<xxh3-128>` of a file drop (None for a folder), read once from start to
    end; the drop must be as it was when its run began."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        hasher = new_hasher()
        size = 0
        while chunk := os.read(fd, READ_BYTES):
            hasher.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    try:
        now, _ = fingerprint_of(path)
    except OSError as exc:
        raise FileChangedError("source vanished while it was read", source=source) from exc
    if now != fingerprint:
        raise FileChangedError(
            "source changed while it was read; it will be read again", source=source
        )
    return f"{size}:{hasher.hexdigest()}"


class Copies:
    """The alias side of an ingest run (the Ingester owns one)."""

    def __init__(self, ingester: Ingester):
        self.ingester = ingester

    def record(
        self,
        row: sources.SourceRow,
        original: aliases.Original,
        content: str,
        fingerprint: str,
        summary: IngestSummary,
    ) -> tuple[str, str]:
        """Record the drop as holding what `original` holds: its manifest (the original's
        members under this path), its state and problems; no occurrence, key or link."""
        ingester = self.ingester
        index = ingester.index
        assert original.manifest_digest is not None and original.kind is not None
        base = read_manifest(ingester.store, original.manifest_digest)
        manifest = dataclasses.replace(
            base,
            source=row.path,
            fingerprint=fingerprint,
            ingested=utc_now_iso(),
            content=content,
            same_as=original.path,
        )
        ingester.record_manifest(row, manifest)
        with index.write():
            # What this path held before it became a copy goes.
            changed = set(objects.stale_occurrence_keys(index, row.id, row.run))
            objects.remove_stale_occurrences(index, row.id, row.run)
            sources.replace_member_failures(
                index,
                row.id,
                sources.member_failures(index, original.id, sources.PROBLEM),
                sources.member_failures(index, original.id, sources.NOTE),
            )
            aliases.set_content(index, row.id, content)
            aliases.make_alias(index, row.id, original)
        if changed:
            ingester.rematch_keys(changed, summary)
        summary.blobs_deduplicated += len(base.members)
        log.info("source.copy", source=row.path, same_as=original.path, state=original.state)
        return original.kind, original.state

    def before_reading(
        self, row: sources.SourceRow, content: str | None, summary: IngestSummary
    ) -> None:
        """A drop read as itself: no longer anyone's alias; and when it held other bytes
        before, its aliases first take a copy of what it held."""
        index = self.ingester.index
        with index.write():
            aliases.clear_alias(index, row.id)
            touched: list[str] = []
            if content is None or aliases.content_of(index, row.id) != content:
                touched = aliases.materialize(index, row.id, MANIFEST_MEMBER)
            aliases.set_content(index, row.id, content)
        if touched:
            self.ingester.rematch_subjects({aliases.PHOTO_SUBJECT: set(touched)}, summary)
