"""The index: what the store holds, where each object was found, and what it means.

`Index` is the interface every engine implements (`engine`); `open_index` opens the
SQLite engine, today's only one. Every SQL statement lives in this package, grouped by
concern in the query modules (`sources`, `objects`, `expected`, `conversations`,
`conversation_links`, `traces`, `trace_links`, `jobs`, `daemon_state`, `status`,
`reports`, `export`).
"""

from mediasyncd.index.engine import Index
from mediasyncd.index.sqlite import open_for_reading, open_index

__all__ = ["Index", "open_for_reading", "open_index"]
