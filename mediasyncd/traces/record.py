"""Writing traces, their media references and image-dump photos into the index.

No file I/O here, and the SQL is mediasyncd.index.traces'. Each writer returns the user
ids whose data changed, so the caller rematches exactly those users.

Traces from several exports merge: a field the new copy lacks keeps its old value (a
download has model and cost, a CSV export may not), and media references accumulate.
An unchanged trace (same content hash) is not rewritten and touches no user.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mediasyncd.index import Index
from mediasyncd.index import traces as traces_db
from mediasyncd.index.traces import MEDIA_KIND, TRACE_FIELDS, USER_TIME_KIND
from mediasyncd.store.digest import digest_bytes
from mediasyncd.traces.parse import TraceRecord

__all__ = ["MEDIA_KIND", "USER_TIME_KIND", "DumpImage", "record_dump_images", "record_traces"]


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
        stored = traces_db.stored_trace(index, record.id)
        previous = stored[0] if stored is not None else None
        merged = (
            new
            if previous is None
            else {k: (new[k] if new[k] is not None else previous[k]) for k in TRACE_FIELDS}
        )
        old_refs = traces_db.media_refs_of(index, record.id)
        refs = dict(old_refs)
        for ref in record.media:
            refs.setdefault(
                ref.media_id,
                json.dumps({"type": ref.mime, "source": ref.source, "field": ref.field}),
            )
        content_hash = digest_bytes(
            json.dumps([merged[k] for k in TRACE_FIELDS] + sorted(refs.items())).encode("utf-8")
        )
        if stored is not None and stored[1] == content_hash:
            continue
        traces_db.upsert_trace(index, record.id, merged, content_hash, source_id)
        if refs != old_refs or (previous is not None and previous["user_id"] != merged["user_id"]):
            traces_db.replace_media_refs(index, record.id, merged["user_id"], sorted(refs.items()))
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
    return traces_db.dump_images_of(index, source_id)


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
        old_keys = traces_db.photo_keys(index, image.occurrence_id)
        if sorted(keys, key=lambda k: (k[0], k[1])) != old_keys:
            traces_db.replace_photo_keys(index, image.occurrence_id, keys)
            changed_keys.update((k[0], k[1]) for k in keys + old_keys)
            touched.add(image.user_id)
            touched.update(k[1] for k in old_keys if k[0] == USER_TIME_KIND)
        if before == row:
            continue
        traces_db.upsert_dump_image(index, image.occurrence_id, row)
        touched.add(image.user_id)
        if before is not None:
            touched.add(str(before[0]))
    return touched


def forget_dump_images(index: Index, occurrence_ids: Iterable[int]) -> set[str]:
    """Photos that are no longer dump images (moved out of a user folder); their users."""
    touched: set[str] = set()
    for occurrence_id in occurrence_ids:
        user = traces_db.forget_dump_image(index, occurrence_id)
        if user is not None:
            touched.add(user)
    return touched
