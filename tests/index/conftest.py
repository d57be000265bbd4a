"""What the index tests share: an in-memory index, and a source run in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mediasyncd.index import Index, open_index, sources
from mediasyncd.store.digest import digest_bytes

D1 = digest_bytes(b"one")
D2 = digest_bytes(b"two")


@pytest.fixture
def index() -> Iterator[Index]:
    """A migrated in-memory index (a module's own fixture of this name wins)."""
    idx = open_index(None)
    yield idx
    idx.close()


def begin_source(
    index: Index, path: str = "/drop/a.zip", fingerprint: str = "f1"
) -> sources.SourceRow:
    return sources.begin_source_run(
        index,
        path,
        is_dir=False,
        size=10,
        mtime_ns=1,
        inode=2,
        device=3,
        fingerprint=fingerprint,
    )
