"""Writing traces, their media references and image-dump photos into the index.

Only SQL here (no file I/O). Each writer returns the user ids whose data changed, so the
caller rematches exactly those users.

Traces from several exports merge: a field the new copy lacks keeps its old value (a
download has model and cost, a CSV export may not), and media references accumulate.
An unchanged trace (same content hash) is not rewritten and touches no user.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mediasyncd.digest import digest_bytes
from mediasyncd.index import Index
from mediasyncd.traces.parse import TraceRecord

MEDIA_KIND: Final = "langfuse_media"
USER_TIME_KIND: Final = "user_time"
_FIELDS: Final = (
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


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def record_traces(index: Index, records: Sequence[TraceRecord], source_id: int) -> set[str]:
    """Upsert traces and their media refs (call inside a write transaction)."""
    touched: set[str] = set()
    for record in records:
        new: dict[str, Any] = {
            "timestamp": record.timestamp,
            "ts": record.ts,
            "user_id": record.user_id,
            "session_id": record.session_id,
            "name": record.name,
            "input": _json(record.input),
            "output": _json(record.output),
            "metadata": _json(record.metadata),
            "model": record.model,
            "cost": record.cost,
            "tags": _json(record.tags),
        }
        old = index.execute(
            f"SELECT {', '.join(_FIELDS)}, content_hash FROM traces WHERE id = ?", (record.id,)
        ).fetchone()
        if old is not None:
            previous = dict(zip(_FIELDS, old[:-1], strict=True))
            merged = {k: (new[k] if new[k] is not None else previous[k]) for k in _FIELDS}
        else:
            previous = None
            merged = new
        old_refs = {
            str(row[0]): str(row[1] or "{}")
            for row in index.execute(
                "SELECT key, extra FROM refs WHERE subject = 'trace' AND trace_id = ? "
                "AND key_kind = ?",
                (record.id, MEDIA_KIND),
            )
        }
        refs = dict(old_refs)
        for ref in record.media:
            refs.setdefault(
                ref.media_id,
                json.dumps({"type": ref.mime, "source": ref.source, "field": ref.field}),
            )
        content_hash = digest_bytes(
            json.dumps([merged[k] for k in _FIELDS] + sorted(refs.items())).encode("utf-8")
        )
        if old is not None and old[-1] == content_hash:
            continue
        index.execute(
            f"""INSERT INTO traces (id, {", ".join(_FIELDS)}, content_hash, source_id)
                VALUES (?, {", ".join("?" for _ in _FIELDS)}, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                {", ".join(f"{k} = excluded.{k}" for k in _FIELDS)},
                content_hash = excluded.content_hash, source_id = excluded.source_id""",
            (record.id, *(merged[k] for k in _FIELDS), content_hash, source_id),
        )
        if refs != old_refs or (previous is not None and previous["user_id"] != merged["user_id"]):
            index.execute(
                "DELETE FROM refs WHERE subject = 'trace' AND trace_id = ? AND key_kind = ?",
                (record.id, MEDIA_KIND),
            )
            index.conn.executemany(
                """INSERT INTO refs (subject, trace_id, user_id, kind, key_kind, key, extra)
                   VALUES ('trace', ?, ?, ?, ?, ?, ?)""",
                [
                    (record.id, merged["user_id"], MEDIA_KIND, MEDIA_KIND, key, extra)
                    for key, extra in sorted(refs.items())
                ],
            )
        touched.add(str(merged["user_id"]))
        if previous is not None and previous["user_id"]:
            touched.add(str(previous["user_id"]))
    return touched


@dataclass(frozen=True)
class DumpImage:
    """One photo of an image dump: whose it is, its S3 key, and when it was uploaded."""

    occurrence_id: int
    user_id: str
    key: str  # the object key from the prefix on, e.g. meal-images/<user>/<file>
    media_id: str | None  # Langfuse media id from the SHA-256 of the bytes
    taken: str | None  # ISO 8601 UTC
    ts: float | None
    time_source: str | None


def existing_dump_images(index: Index, source_id: int) -> dict[int, tuple[Any, ...]]:
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


def record_dump_images(
    index: Index,
    images: Iterable[DumpImage],
    existing: dict[int, tuple[Any, ...]],
    changed_keys: set[tuple[str, str]],
) -> set[str]:
    """Upsert photos and their keys; returns users whose photos changed (inside a write)."""
    touched: set[str] = set()
    for image in images:
        row = (image.user_id, image.taken, image.ts, image.time_source)
        before = existing.get(image.occurrence_id)
        keys: list[tuple[str, str, str | None]] = [(USER_TIME_KIND, image.user_id, image.key)]
        if image.media_id:
            keys.append((MEDIA_KIND, image.media_id, None))
        old_keys = [
            (str(r[0]), str(r[1]), r[2])
            for r in index.execute(
                """SELECT key_kind, key, extra FROM occurrence_keys
                   WHERE occurrence_id = ? AND key_kind IN (?, ?) ORDER BY key_kind, key""",
                (image.occurrence_id, MEDIA_KIND, USER_TIME_KIND),
            )
        ]
        if sorted(keys, key=lambda k: (k[0], k[1])) != old_keys:
            index.execute(
                "DELETE FROM occurrence_keys WHERE occurrence_id = ? AND key_kind IN (?, ?)",
                (image.occurrence_id, MEDIA_KIND, USER_TIME_KIND),
            )
            index.conn.executemany(
                """INSERT INTO occurrence_keys (occurrence_id, key_kind, key, extra)
                   VALUES (?, ?, ?, ?)""",
                [(image.occurrence_id, *k) for k in keys],
            )
            changed_keys.update((k[0], k[1]) for k in keys + old_keys)
            touched.add(image.user_id)
            touched.update(k[1] for k in old_keys if k[0] == USER_TIME_KIND)
        if before == row:
            continue
        index.execute(
            """INSERT INTO dump_images (occurrence_id, user_id, taken, ts, time_source)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT(occurrence_id) DO UPDATE SET user_id = excluded.user_id,
                   taken = excluded.taken, ts = excluded.ts, time_source = excluded.time_source""",
            (image.occurrence_id, *row),
        )
        touched.add(image.user_id)
        if before is not None:
            touched.add(str(before[0]))
    return touched


def forget_dump_images(index: Index, occurrence_ids: Iterable[int]) -> set[str]:
    """Photos that are no longer dump images (moved out of a user folder); their users."""
    touched: set[str] = set()
    for occurrence_id in occurrence_ids:
        row = index.execute(
            "SELECT user_id FROM dump_images WHERE occurrence_id = ?", (occurrence_id,)
        ).fetchone()
        if row is None:
            continue
        touched.add(str(row[0]))
        index.execute("DELETE FROM dump_images WHERE occurrence_id = ?", (occurrence_id,))
        index.execute(
            "DELETE FROM occurrence_keys WHERE occurrence_id = ? AND key_kind IN (?, ?)",
            (occurrence_id, MEDIA_KIND, USER_TIME_KIND),
        )
    return touched
