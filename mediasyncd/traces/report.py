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
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

from mediasyncd.index import Index
from mediasyncd.traces.matcher import Photo, representatives
from mediasyncd.traces.record import MEDIA_KIND, USER_TIME_KIND

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
_SINCE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class TimeFilter:
    """Records whose time is in [start, end) (epoch seconds; None: open)."""

    start: float | None = None
    end: float | None = None

    def sql(self, column: str) -> tuple[str, list[float]]:
        parts: list[str] = []
        params: list[float] = []
        if self.start is not None:
            parts.append(f"{column} >= ?")
            params.append(self.start)
        if self.end is not None:
            parts.append(f"{column} < ?")
            params.append(self.end)
        return (" AND ".join(parts) or "1"), params

    def keeps(self, ts: float | None) -> bool:
        if self.start is None and self.end is None:
            return True
        if ts is None:
            return False
        return (self.start is None or ts >= self.start) and (self.end is None or ts < self.end)


def parse_since(text: str, now: datetime | None = None) -> float:
    """'7d', '12h', '30m', '90s', '2w' before now, as epoch seconds."""
    match = _SINCE.match(text)
    if not match:
        raise ValueError(f"not a duration like 7d, 12h or 30m: {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    return ((now or datetime.now(UTC)) - timedelta(seconds=seconds)).timestamp()


def parse_moment(text: str, zone: tzinfo) -> float:
    """A date or date-time (ISO 8601); without a zone it is read in `zone`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"not a date or time like 2025-01-31 or 2025-01-31T16:30: {text!r}"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


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
    where = ["m.subject = 'trace'", "m.confidence >= ?"]
    params: list[Any] = [min_confidence]
    for column, values in (("m.user_id", users), ("m.strategy", strategies)):
        if values:
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    clause, extra = window.sql("COALESCE(t.ts, json_extract(m.detail, '$.image_ts'))")
    where.append(clause)
    params.extend(extra)
    cursor = index.execute(
        f"""SELECT m.user_id, m.trace_id, m.digest, m.strategy, m.association, m.confidence,
                   m.detail, t.name, t.input, t.output, t.model, t.cost, t.ts,
                   s.path || '!/' || o.member
            FROM matches m
            LEFT JOIN traces t ON t.id = m.trace_id
            LEFT JOIN occurrences o ON o.id = json_extract(m.detail, '$.occurrence_id')
            LEFT JOIN sources s ON s.id = o.source_id
            WHERE {" AND ".join(where)}
            ORDER BY m.user_id, t.ts, m.trace_id, m.digest""",
        params,
    )
    for row in cursor:
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
    user_clause = f"IN ({', '.join('?' for _ in users)})" if users else "IS NOT NULL"
    clause, extra = window.sql("t.ts")
    for trace_id, user, ts in index.execute(
        f"""SELECT t.id, t.user_id, t.ts FROM traces t
            WHERE t.user_id {user_clause} AND {clause}
            AND t.id NOT IN (SELECT trace_id FROM matches
                             WHERE subject = 'trace' AND trace_id IS NOT NULL)
            ORDER BY t.user_id, t.ts, t.id""",
        [*users, *extra],
    ):
        yield _unresolved("unused_trace", user, trace_id, trace_id, show_time(ts, zone))
    for photo, user, path in _unmatched_photos(index, users):
        ts = None if photo.ts_ms is None else photo.ts_ms / 1000
        if window.keeps(ts):
            record = _unresolved("unmatched_image", user, None, photo.key, show_time(ts, zone))
            yield record | {"digest": photo.digest, "path": path}
    for trace_id, user, key, ts in index.execute(
        f"""SELECT r.trace_id, t.user_id, r.key, t.ts FROM refs r
            JOIN traces t ON t.id = r.trace_id
            WHERE r.subject = 'trace' AND r.key_kind = ? AND t.user_id {user_clause}
            AND {clause} AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = r.id)
            ORDER BY t.user_id, t.ts, r.trace_id, r.key""",
        [MEDIA_KIND, *users, *extra],
    ):
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
    user_clause = f"WHERE d.user_id IN ({', '.join('?' for _ in users)})" if users else ""
    current: str | None = None
    photos: list[Photo] = []
    paths: dict[int, str] = {}
    for user, occurrence_id, ts, source, digest, key, path in index.execute(
        f"""SELECT d.user_id, d.occurrence_id, d.ts, d.time_source, o.digest, k.extra,
                   s.path || '!/' || o.member
            FROM dump_images d JOIN occurrences o ON o.id = d.occurrence_id
            JOIN sources s ON s.id = o.source_id
            LEFT JOIN occurrence_keys k
                   ON k.occurrence_id = d.occurrence_id AND k.key_kind = '{USER_TIME_KIND}'
            {user_clause} ORDER BY d.user_id""",
        list(users),
    ):
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


def _matched_photos(index: Index) -> set[tuple[str, str, str]]:
    return {
        (str(u), str(k), str(d))
        for u, k, d in index.execute(
            """SELECT user_id, json_extract(detail, '$.image_key'), digest FROM matches
               WHERE subject = 'trace'"""
        )
    }


def _unmatched_photos(index: Index, users: Sequence[str]) -> Iterator[tuple[Photo, str, str]]:
    matched = _matched_photos(index)
    for user, photos, paths in _photos(index, users):
        for photo in representatives(photos):
            if (user, photo.key, photo.digest) not in matched:
                yield photo, user, paths[photo.occurrence_id]


def trace_pair_stats(index: Index) -> dict[str, Any]:
    """Users, images, traces, pairs, match rate and gap statistics (for `status`)."""
    traces = int(index.scalar("SELECT COUNT(*) FROM traces") or 0)
    users = int(
        index.scalar(
            """SELECT COUNT(*) FROM (SELECT user_id FROM traces WHERE user_id IS NOT NULL
                                     UNION SELECT user_id FROM dump_images)"""
        )
        or 0
    )
    images = int(
        index.scalar(
            f"""SELECT COUNT(*) FROM (
                   SELECT DISTINCT d.user_id, COALESCE(k.extra, '#' || d.occurrence_id),
                          o.digest
                   FROM dump_images d JOIN occurrences o ON o.id = d.occurrence_id
                   LEFT JOIN occurrence_keys k ON k.occurrence_id = d.occurrence_id
                        AND k.key_kind = '{USER_TIME_KIND}')"""
        )
        or 0
    )
    pairs, used_traces, matched_images = index.execute(
        """SELECT COUNT(*), COUNT(DISTINCT trace_id),
                  COUNT(DISTINCT user_id || char(0) || json_extract(detail, '$.image_key')
                        || char(0) || digest)
           FROM matches WHERE subject = 'trace'"""
    ).fetchone()
    by_strategy = {
        str(s): int(c)
        for s, c in index.execute(
            "SELECT strategy, COUNT(*) FROM matches WHERE subject = 'trace' GROUP BY strategy"
        )
    }
    gaps = sorted(
        abs(float(g))
        for (g,) in index.execute(
            """SELECT json_extract(detail, '$.gap_seconds') FROM matches
               WHERE subject = 'trace' AND strategy = 'time'"""
        )
        if g is not None
    )
    return {
        "users": users,
        "images": images,
        "traces": traces,
        "pairs": int(pairs),
        "pairs_by_strategy": by_strategy,
        "matched_images": int(matched_images),
        "unmatched_images": images - int(matched_images),
        "unused_traces": traces - int(used_traces),
        "match_rate": round(int(matched_images) / images, 4) if images else None,
        "gap_median_seconds": _percentile(gaps, 0.5),
        "gap_p95_seconds": _percentile(gaps, 0.95),
    }


def _percentile(ordered: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * share // 1))
    return round(ordered[int(rank) - 1], 3)
