"""An index on the engine a test runs on (tests/engines.py)."""

from __future__ import annotations

from mediasyncd.index import Index, open_index


def open_test_index(url: str) -> Index:
    """In-memory SQLite for '', else the PostgreSQL database at `url`, migrated."""
    if not url:
        return open_index(None)
    from mediasyncd.index.postgres import open_postgres

    return open_postgres(url)
