"""Langfuse traces with their media references, and the photos of image dumps
(`dump_images` and their keys). The merge rules are mediasyncd.traces.record's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from mediasyncd.index import objects
from mediasyncd.index.engine import Index

# The key kinds that tie a photo to its traces: a Langfuse media id (from the SHA-256 of
# the bytes) and the user whose folder holds it (extra: the object key).
MEDIA_KIND: Final = "langfuse_media"
USER_TIME_KIND: Final = "user_time"
PHOTO_KEY_KINDS: Final = (MEDIA_KIND, USER_TIME_KIND)
TRACE_FIELDS: Final = (
    "timestamp",
    "ts",
    "user_id",
    "session_id",
    "name",
    "input",
    "output",
    "metadata",
    "model",
    "cost",
    "tags",
)


def stored_trace(index: Index, trace_id: str) -> tuple[dict[str, Any], str] | None:
    """The stored trace's fields (TRACE_FIELDS) and content hash, if any."""
    row = index.execute(
        f"SELECT {', '.join(TRACE_FIELDS)}, content_hash FROM traces WHERE id = ?", (trace_id,)
    ).fetchone()
    if row is None:
        return None
    return dict(zip(TRACE_FIELDS, row[:-1], strict=True)), str(row[-1])


def media_refs_of(index: Index, trace_id: str) -> dict[str, str]:
    """media id -> the reference's extra (JSON text) of a stored trace."""
    return {
        str(row[0]): str(row[1] or "{}")
        for row in index.execute(
            "SELECT key, extra FROM refs WHERE subject = 'trace' AND trace_id = ? AND key_kind = ?",
            (trace_id, MEDIA_KIND),
        )
    }


def upsert_trace(
    index: Index, trace_id: str, fields: Mapping[str, Any], content_hash: str, source_id: int
) -> None:
    index.execute(
        f"""INSERT INTO traces (id, {", ".join(TRACE_FIELDS)}, content_hash, source_id)
            VALUES (?, {", ".join("?" for _ in TRACE_FIELDS)}, ?, ?)
            ON CONFLICT(id) DO UPDATE SET
            {", ".join(f"{k} = excluded.{k}" for k in TRACE_FIELDS)},
            content_hash = excluded.content_hash, source_id = excluded.source_id""",
        (trace_id, *(fields[k] for k in TRACE_FIELDS), content_hash, source_id),
    )


def replace_media_refs(
    index: Index, trace_id: str, user_id: str | None, refs: Iterable[tuple[str, str]]
) -> None:
    """The trace's media references become `refs` ((media id, extra) each)."""
    index.execute(
        "DELETE FROM refs WHERE subject = 'trace' AND trace_id = ? AND key_kind = ?",
        (trace_id, MEDIA_KIND),
    )
    index.executemany(
        """INSERT INTO refs (subject, trace_id, user_id, kind, key_kind, key, extra)
           VALUES ('trace', ?, ?, ?, ?, ?, ?)""",
        [(trace_id, user_id, MEDIA_KIND, MEDIA_KIND, key, extra) for key, extra in refs],
    )


# -- photos of image dumps ----------------------------------------------------------------

# (user_id, taken, ts, time_source) of one photo.
PhotoRow = tuple[Any, ...]


def dump_images_of(index: Index, source_id: int) -> dict[int, PhotoRow]:
    """occurrence id -> (user_id, taken, ts, time_source) for this source's photos."""
    return {
        int(row[0]): tuple(row[1:])
        for row in index.execute(
            """SELECT d.occurrence_id, d.user_id, d.taken, d.ts, d.time_source
               FROM dump_images d JOIN occurrences o ON o.id = d.occurrence_id
               WHERE o.source_id = ?""",
            (source_id,),
        )
    }


def photo_keys(index: Index, occurrence_id: int) -> list[tuple[str, str, str | None]]:
    """The photo's media and user keys, by kind and key."""
    return objects.keys_of(index, occurrence_id, PHOTO_KEY_KINDS)


def replace_photo_keys(
    index: Index, occurrence_id: int, keys: Sequence[tuple[str, str, str | None]]
) -> None:
    objects.replace_keys(index, occurrence_id, PHOTO_KEY_KINDS, keys)


def upsert_dump_image(index: Index, occurrence_id: int, row: PhotoRow) -> None:
    index.execute(
        """INSERT INTO dump_images (occurrence_id, user_id, taken, ts, time_source)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(occurrence_id) DO UPDATE SET user_id = excluded.user_id,
               taken = excluded.taken, ts = excluded.ts, time_source = excluded.time_source""",
        (occurrence_id, *row),
    )


def forget_dump_image(index: Index, occurrence_id: int) -> str | None:
    """The occurrence is no longer a photo of a user: its row and keys go; returns the
    user it belonged to (None: it was none)."""
    user = index.scalar("SELECT user_id FROM dump_images WHERE occurrence_id = ?", (occurrence_id,))
    if user is None:
        return None
    index.execute("DELETE FROM dump_images WHERE occurrence_id = ?", (occurrence_id,))
    index.execute(
        "DELETE FROM occurrence_keys WHERE occurrence_id = ? AND key_kind IN (?, ?)",
        (occurrence_id, *PHOTO_KEY_KINDS),
    )
    return str(user)


def user_ids(index: Index) -> set[str]:
    """Every user a trace or a photo names."""
    return {
        str(row[0])
        for row in index.execute(
            "SELECT user_id FROM traces WHERE user_id IS NOT NULL "
            "UNION SELECT user_id FROM dump_images"
        )
    }
