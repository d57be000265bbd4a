"""Reports on photo-trace links: the pairs, what is left over, and how well it went.

- `iter_trace_pairs`: one record per link, with the seed's columns (user_id, trace_id,
  trace_name, input, output, model, cost, image path, digest, image time, trace time, gap
  seconds) beside the contract's match fields;
- `iter_trace_unresolved`: unused traces, unmatched photos and media references no photo
  satisfies;
- `trace_pair_stats`: users, images, traces, pairs, match rate, gap median and p95.
Times are stored in UTC and shown in `traces.display_timezone`. Time filters select by
the trace's time (a photo's time when there is no trace), never change what is matched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Final

from mediasyncd.index import Index, reports, status
from mediasyncd.index.traces import MEDIA_KIND

if TYPE_CHECKING:
    # `status` imports this module for its counts; the matcher only the reports need.
    from mediasyncd.traces.matcher import Photo

PAIR_COLUMNS: Final[Sequence[str]] = (
    "user_id",
    "trace_id",
    "trace_name",
    "input",
    "output",
    "model",
    "cost",
    "image_path",
    "digest",
    "image_time",
    "trace_time",
    "gap_seconds",
    "strategy",
    "confidence",
    "time_source",
)
UNRESOLVED_TRACE_COLUMNS: Final[Sequence[str]] = (
    "subject",
    "kind",
    "user_id",
    "trace_id",
    "key",
    "time",
    "digest",
    "path",
)


@dataclass(frozen=True)
class TimeFilter:
    """Records whose time is in [start, end) (epoch seconds; None: open)."""

    start: float | None = None
    end: float | None = None

    def keeps(self, ts: float | None) -> bool:
        if self.start is None and self.end is None:
            return True
        if ts is None:
            return False
        return (self.start is None or ts >= self.start) and (self.end is None or ts < self.end)


def show_time(ts: float | None, zone: tzinfo) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="seconds")


def _decoded(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def iter_trace_pairs(
    index: Index,
    zone: tzinfo,
    *,
    users: Sequence[str] = (),
    strategies: Sequence[str] = (),
    min_confidence: float = 0.0,
    window: TimeFilter = TimeFilter(),
) -> Iterator[dict[str, Any]]:
    """One record per photo-trace link: contract fields plus the seed's columns."""
    rows = reports.trace_pair_rows(
        index,
        users=users,
        strategies=strategies,
        min_confidence=min_confidence,
        start=window.start,
        end=window.end,
    )
    for row in rows:
        user, trace_id, digest, strategy, association, confidence, detail_text = row[:7]
        name, input_text, output_text, model, cost, trace_ts, path = row[7:]
        detail = json.loads(detail_text or "{}")
        yield {
            "subject": "trace",
            "conversation_id": None,
            "message_id": None,
            "trace_id": trace_id,
            "user_id": user,
            "digest": digest,
            "strategy": strategy,
            "association": association,
            "confidence": confidence,
            "path": path,
            "trace_name": name,
            "input": _decoded(input_text),
            "output": _decoded(output_text),
            "model": model,
            "cost": cost,
            "image_path": path,
            "image_key": detail.get("image_key"),
            "image_time": show_time(detail.get("image_ts"), zone),
            "trace_time": show_time(trace_ts, zone),
            "gap_seconds": detail.get("gap_seconds"),
            "time_source": detail.get("time_source"),
        }


def iter_trace_unresolved(
    index: Index,
    zone: tzinfo,
    *,
    users: Sequence[str] = (),
    window: TimeFilter = TimeFilter(),
) -> Iterator[dict[str, Any]]:
    """Unused traces, unmatched photos, and media references no photo satisfies."""
    for trace_id, user, ts in reports.unused_traces(index, users, window.start, window.end):
        yield _unresolved("unused_trace", user, trace_id, trace_id, show_time(ts, zone))
    for photo, user, path in _unmatched_photos(index, users):
        ts = None if photo.ts_ms is None else photo.ts_ms / 1000
        if window.keeps(ts):
            record = _unresolved("unmatched_image", user, None, photo.key, show_time(ts, zone))
            yield record | {"digest": photo.digest, "path": path}
    for trace_id, user, key, ts in reports.unresolved_media(index, users, window.start, window.end):
        yield _unresolved(MEDIA_KIND, user, trace_id, key, show_time(ts, zone))


def _unresolved(
    kind: str, user: str, trace_id: str | None, key: str, time: str | None
) -> dict[str, Any]:
    return {
        "subject": "trace",
        "conversation_id": None,
        "message_id": None,
        "trace_id": trace_id,
        "kind": kind,
        "key": key,
        "user_id": user,
        "time": time,
        "digest": None,
        "path": None,
    }


def _photos(
    index: Index, users: Sequence[str]
) -> Iterator[tuple[str, list[Photo], dict[int, str]]]:
    """Per user (in order): every dumped photo occurrence and its path."""
    from mediasyncd.traces.matcher import Photo

    current: str | None = None
    photos: list[Photo] = []
    paths: dict[int, str] = {}
    for user, occurrence_id, ts, source, digest, key, path in reports.photo_rows(index, users):
        if user != current:
            if current is not None:
                yield current, photos, paths
            current, photos, paths = str(user), [], {}
        key_text = str(key) if key is not None else f"#{occurrence_id}"
        ts_ms = None if ts is None else round(float(ts) * 1000)
        photos.append(Photo(int(occurrence_id), str(digest), key_text, None, ts_ms, source))
        paths[int(occurrence_id)] = str(path)
    if current is not None:
        yield current, photos, paths


def _unmatched_photos(index: Index, users: Sequence[str]) -> Iterator[tuple[Photo, str, str]]:
    from mediasyncd.traces.matcher import representatives

    matched = reports.matched_photos(index)
    for user, photos, paths in _photos(index, users):
        for photo in representatives(photos):
            if (user, photo.key, photo.digest) not in matched:
                yield photo, user, paths[photo.occurrence_id]


def trace_pair_stats(index: Index) -> dict[str, Any]:
    """Users, images, traces, pairs, match rate and gap statistics (for `status`)."""
    traces = status.trace_count(index)
    counts = status.trace_pair_counts(index)
    images = counts.images
    return {
        "users": counts.users,
        "images": images,
        "traces": traces,
        "pairs": counts.pairs,
        "pairs_by_strategy": counts.by_strategy,
        "matched_images": counts.matched_images,
        "unmatched_images": images - counts.matched_images,
        "unused_traces": traces - counts.used_traces,
        "match_rate": round(counts.matched_images / images, 4) if images else None,
        "gap_median_seconds": _percentile(counts.gaps, 0.5),
        "gap_p95_seconds": _percentile(counts.gaps, 0.95),
    }


def _percentile(ordered: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * share // 1))
    return round(ordered[int(rank) - 1], 3)
