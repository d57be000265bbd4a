"""What the trace matcher reads and writes, per user: photos, traces, the traces' media
references, and the links (`matches` of subject 'trace'). The rules are
mediasyncd.traces.matcher's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from mediasyncd.index.engine import Index, marks
from mediasyncd.index.traces import MEDIA_KIND, USER_TIME_KIND

# (user_id, occurrence_id, ts, time_source, digest, object key, media id) of a photo.
PhotoRecord = tuple[str, int, float | None, str | None, str, str | None, str | None]


def photos_of(index: Index, users: Sequence[str]) -> Iterator[PhotoRecord]:
    for user, occurrence_id, ts, source, digest, key, media_id in index.execute(
        f"""SELECT d.user_id, d.occurrence_id, d.ts, d.time_source, o.digest, k.extra, m.key
            FROM dump_images d JOIN occurrences o ON o.id = d.occurrence_id
            LEFT JOIN occurrence_keys k
                   ON k.occurrence_id = d.occurrence_id AND k.key_kind = '{USER_TIME_KIND}'
            LEFT JOIN occurrence_keys m
                   ON m.occurrence_id = d.occurrence_id AND m.key_kind = '{MEDIA_KIND}'
            WHERE d.user_id IN ({marks(users)})""",
        list(users),
    ):
        yield str(user), int(occurrence_id), ts, source, str(digest), key, media_id


def timed_traces_of(index: Index, users: Sequence[str]) -> list[tuple[str, str, float]]:
    """(user, trace id, ts) of the users' traces that have a time."""
    return [
        (str(user), str(trace_id), float(ts))
        for user, trace_id, ts in index.execute(
            f"SELECT user_id, id, ts FROM traces WHERE user_id IN ({marks(users)}) "
            "AND ts IS NOT NULL",
            list(users),
        )
    ]


def media_refs_of(index: Index, users: Sequence[str]) -> list[tuple[str, int, str, str]]:
    """(user, ref id, trace id, media id) of the media references of the users' traces."""
    # The ordered join keeps SQLite on traces(user_id) then refs(trace_id): left to itself
    # it scans every media reference by kind, 1000x slower for one user on a large index.
    join = index.dialect.ordered_join
    return [
        (str(user), int(ref_id), str(trace_id), str(key))
        for user, ref_id, trace_id, key in index.execute(
            f"""SELECT t.user_id, r.id, r.trace_id, r.key FROM traces t
                {join} refs r ON r.trace_id = t.id
                WHERE t.user_id IN ({marks(users)}) AND r.subject = 'trace' AND r.key_kind = ?""",
            [*users, MEDIA_KIND],
        )
    ]


def users_with_media(index: Index, media_ids: Sequence[str]) -> set[str]:
    """Users whose traces name, or whose photos are, one of these media ids."""
    users: set[str] = set()
    for (user,) in index.execute(
        f"""SELECT DISTINCT t.user_id FROM refs r JOIN traces t ON t.id = r.trace_id
            WHERE r.key_kind = ? AND r.key IN ({marks(media_ids)})""",
        [MEDIA_KIND, *media_ids],
    ):
        users.add(str(user))
    for (user,) in index.execute(
        f"""SELECT DISTINCT d.user_id FROM occurrence_keys k
            JOIN dump_images d ON d.occurrence_id = k.occurrence_id
            WHERE k.key_kind = ? AND k.key IN ({marks(media_ids)})""",
        [MEDIA_KIND, *media_ids],
    ):
        users.add(str(user))
    return users


def all_users(index: Index) -> list[str]:
    """Every user with traces, photos or links, in order."""
    return [
        str(row[0])
        for row in index.execute(
            """SELECT user_id FROM traces WHERE user_id IS NOT NULL
               UNION SELECT user_id FROM dump_images
               UNION SELECT user_id FROM matches
                     WHERE subject = 'trace' AND user_id IS NOT NULL
               ORDER BY 1"""
        )
    ]


# (trace_id, digest, ref_id, strategy, association, confidence, detail) of a link.
LinkRow = tuple[Any, ...]


def links_of(index: Index, users: Sequence[str]) -> dict[str, dict[LinkRow, int]]:
    """user -> {link row: match id} of the users' links."""
    found: dict[str, dict[LinkRow, int]] = {}
    for match_id, user, *row in index.execute(
        f"""SELECT id, user_id, trace_id, digest, ref_id, strategy, association,
                   confidence, detail
            FROM matches WHERE subject = 'trace' AND user_id IN ({marks(users)})""",
        users,
    ):
        found.setdefault(str(user), {})[tuple(row)] = int(match_id)
    return found


def remove_links(index: Index, match_ids: Sequence[int]) -> None:
    if match_ids:
        index.executemany("DELETE FROM matches WHERE id = ?", [(i,) for i in match_ids])


def add_links(index: Index, rows: Iterable[tuple[Any, ...]]) -> None:
    """Links as (user_id, *LinkRow)."""
    index.executemany(
        """INSERT INTO matches (subject, user_id, trace_id, digest, ref_id, strategy,
                                association, confidence, detail)
           VALUES ('trace', ?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )
