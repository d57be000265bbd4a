"""What the index tests share: an in-memory index, and a source run in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mediasyncd.index import Index, sources
from mediasyncd.store.digest import digest_bytes
from tests.index.engines import open_test_index

D1 = digest_bytes(b"one")
D2 = digest_bytes(b"two")


@pytest.fixture
def index(index_url: str) -> Iterator[Index]:
    """A migrated index: in memory on SQLite, or a fresh database on the test PostgreSQL
    server when the test runs on both engines (tests/engines.py). A module's own fixture
    of this name wins."""
    idx = open_test_index(index_url)
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
