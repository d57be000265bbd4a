"""Files a source's export manifest names (`export_expected`), and which have arrived.

A stored member satisfies an entry when it has the entry's last path component and size,
and its path is the entry's path or ends with "/" + it (inside a folder, or after a
nested zip's "!/"). See mediasyncd.ingest.completeness.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from mediasyncd.index.engine import Index

# The member ends with "/" + the entry's path: compared from a start counted from the
# left, which SQLite and PostgreSQL read alike (a member shorter than that never ends
# with it).
_SATISFIED: Final = """
    EXISTS (SELECT 1 FROM occurrences o
            WHERE o.name = export_expected.name
              AND (export_expected.size IS NULL OR o.size = export_expected.size)
              AND (o.member = export_expected.path
                   OR substr(o.member, length(o.member) - length(export_expected.path))
                      = '/' || export_expected.path))
"""


def record_expected(
    index: Index, source_id: int, entries: Iterable[tuple[str, str, int | None]]
) -> None:
    """Replace what this source's manifest names ((path, name, size) each), and mark what
    is already stored."""
    index.execute("DELETE FROM export_expected WHERE source_id = ?", (source_id,))
    index.executemany(
        """INSERT INTO export_expected (source_id, path, name, size) VALUES (?, ?, ?, ?)
           ON CONFLICT DO NOTHING""",
        [(source_id, path, name, size) for path, name, size in entries],
    )
    index.execute(
        f"UPDATE export_expected SET present = 1 WHERE source_id = ? AND {_SATISFIED}",
        (source_id,),
    )


def mark_arrivals(index: Index, source_id: int) -> list[int]:
    """Entries of other sources that this source's members satisfy become present;
    returns the sources that gained files (their state may change)."""
    rows = index.execute(
        f"""SELECT DISTINCT source_id FROM export_expected
            WHERE present = 0 AND source_id != ?
              AND name IN (SELECT name FROM occurrences WHERE source_id = ?)
              AND {_SATISFIED}""",
        (source_id, source_id),
    ).fetchall()
    touched = [int(r[0]) for r in rows]
    if touched:
        index.execute(
            f"""UPDATE export_expected SET present = 1
                WHERE present = 0 AND source_id != ?
                  AND name IN (SELECT name FROM occurrences WHERE source_id = ?)
                  AND {_SATISFIED}""",
            (source_id, source_id),
        )
    return touched


def missing_count(index: Index, source_id: int) -> int:
    return int(
        index.scalar(
            "SELECT COUNT(*) FROM export_expected WHERE source_id = ? AND present = 0",
            (source_id,),
        )
        or 0
    )


def missing_paths(index: Index, source_id: int, limit: int) -> list[str]:
    """The first `limit` paths named and not yet present, in order."""
    rows = index.execute(
        """SELECT path FROM export_expected WHERE source_id = ? AND present = 0
           ORDER BY path LIMIT ?""",
        (source_id, limit),
    ).fetchall()
    return [str(r[0]) for r in rows]
