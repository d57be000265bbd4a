"""Linking each user's dumped photos to their traces: by content first, then by time.

Per user (the subject ids of this matcher are user ids):
1. Langfuse media id: a trace whose input, output or metadata (or a generation's) carries
   `@@@langfuseMedia:…|id=X@@@` pins the photo whose SHA-256 gives X: strategy
   'langfuse_media', confidence 1.0, whatever the clocks say. Only the user's own photos
   count: matching is per user, and a content match does not cross users.
2. Time: the photos and traces left over pair 1-to-1 within `traces.window_seconds` in
   `traces.direction`, as many pairs as possible with the smallest sum of gaps
   (mediasyncd.traces.pairing); strategy 'time', confidence falling with the gap and with
   a weaker image clock.
A photo is one object key with one content: the same photo in two drops (a re-sync) is
one photo, represented by the occurrence with the most trusted time.
Results depend only on the index (ties broken by time, key, digest, id), so rematching the
users a drop touches gives what a full rematch gives.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from mediasyncd import faults
from mediasyncd.config import Config
from mediasyncd.index import Index, advisory, trace_links
from mediasyncd.index.traces import MEDIA_KIND, USER_TIME_KIND
from mediasyncd.matching import MatchDelta, SubjectMatcher
from mediasyncd.traces.pairing import pair_by_time

CHUNK: Final = 400
# How far each clock is trusted; a time match's confidence starts here and halves at the
# edge of the window.
SOURCE_CONFIDENCE: Final = {
    "listing": 0.95,
    "exif": 0.85,
    "filename": 0.8,
    "exif_local": 0.75,
    "mtime": 0.7,
}
SOURCE_RANK: Final = {name: rank for rank, name in enumerate(SOURCE_CONFIDENCE)}


@dataclass(frozen=True)
class Photo:
    occurrence_id: int
    digest: str
    key: str
    media_id: str | None
    ts_ms: int | None
    time_source: str | None


@dataclass(frozen=True)
class Trace:
    id: str
    ts_ms: int


@dataclass
class UserData:
    photos: list[Photo] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    # trace id -> [(ref id, media id)]
    media_refs: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


MatchRow = tuple[str, str, int | None, str, str, float, str]


def _to_ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def representatives(photos: Iterable[Photo]) -> list[Photo]:
    """One photo per (object key, content): the occurrence with the most trusted time."""
    best: dict[tuple[str, str], Photo] = {}
    for photo in photos:
        slot = (photo.key, photo.digest)
        current = best.get(slot)
        if current is None or _photo_rank(photo) < _photo_rank(current):
            best[slot] = photo
    return sorted(best.values(), key=_photo_order)


def _photo_rank(photo: Photo) -> tuple[int, int, int]:
    timed = 0 if photo.ts_ms is not None else 1
    return timed, SOURCE_RANK.get(photo.time_source or "", len(SOURCE_RANK)), photo.occurrence_id


def _photo_order(photo: Photo) -> tuple[int, int, str, str, int]:
    timed = 0 if photo.ts_ms is not None else 1
    return timed, photo.ts_ms or 0, photo.key, photo.digest, photo.occurrence_id


def time_confidence(gap_ms: int, window_ms: int, source: str | None) -> float:
    base = SOURCE_CONFIDENCE.get(source or "", 0.6)
    share = abs(gap_ms) / window_ms if window_ms > 0 else 0.0
    return round(base * (1.0 - 0.5 * min(share, 1.0)), 4)


def match_user(data: UserData, direction: str, window_ms: int) -> list[MatchRow]:
    """Every link for one user: (trace_id, digest, ref_id, strategy, association,
    confidence, detail JSON)."""
    photos = representatives(data.photos)
    traces = sorted(data.traces, key=lambda t: (t.ts_ms, t.id))
    by_media: dict[str, list[Photo]] = defaultdict(list)
    for photo in photos:
        if photo.media_id:
            by_media[photo.media_id].append(photo)
    rows: list[MatchRow] = []
    used_photos: set[int] = set()
    used_traces: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for trace in traces:
        for ref_id, media_id in sorted(data.media_refs.get(trace.id, ()), key=lambda r: r[1]):
            candidates = by_media.get(media_id)
            if not candidates:
                continue
            photo = min(
                candidates,
                key=lambda p: (
                    p.ts_ms is None,
                    abs((p.ts_ms or 0) - trace.ts_ms),
                    p.key,
                    p.occurrence_id,
                ),
            )
            if (trace.id, photo.digest) in seen:
                continue
            seen.add((trace.id, photo.digest))
            used_photos.add(photo.occurrence_id)
            used_traces.add(trace.id)
            gap = None if photo.ts_ms is None else photo.ts_ms - trace.ts_ms
            detail = _detail(photo, trace, gap, media_id=media_id)
            rows.append(
                (trace.id, photo.digest, ref_id, "langfuse_media", "attachment", 1.0, detail)
            )
    pool = [p for p in photos if p.occurrence_id not in used_photos and p.ts_ms is not None]
    free = [t for t in traces if t.id not in used_traces]
    pairs = pair_by_time(
        [p.ts_ms for p in pool if p.ts_ms is not None],
        [t.ts_ms for t in free],
        direction,  # type: ignore[arg-type]
        window_ms,
    )
    for pair in pairs:
        photo, trace = pool[pair.image], free[pair.trace]
        confidence = time_confidence(pair.gap_ms, window_ms, photo.time_source)
        detail = _detail(photo, trace, pair.gap_ms)
        rows.append((trace.id, photo.digest, None, "time", "attachment", confidence, detail))
    return rows


def _detail(photo: Photo, trace: Trace, gap_ms: int | None, media_id: str | None = None) -> str:
    data: dict[str, Any] = {
        "occurrence_id": photo.occurrence_id,
        "image_key": photo.key,
        "image_ts": None if photo.ts_ms is None else photo.ts_ms / 1000,
        "time_source": photo.time_source,
        "trace_ts": trace.ts_ms / 1000,
        "gap_seconds": None if gap_ms is None else gap_ms / 1000,
    }
    if media_id is not None:
        data["media_id"] = media_id
    return json.dumps(data, sort_keys=True)


def load_users(index: Index, users: Sequence[str]) -> dict[str, UserData]:
    """Photos, traces and media references of these users, in three indexed queries."""
    data: dict[str, UserData] = {user: UserData() for user in users}
    for user, occurrence_id, ts, source, digest, key, media_id in trace_links.photos_of(
        index, users
    ):
        data[user].photos.append(
            Photo(
                occurrence_id,
                digest,
                str(key) if key is not None else f"#{occurrence_id}",
                media_id,
                _to_ms(ts),
                source,
            )
        )
    for user, trace_id, ts in trace_links.timed_traces_of(index, users):
        data[user].traces.append(Trace(trace_id, round(ts * 1000)))
    for user, ref_id, trace_id, key in trace_links.media_refs_of(index, users):
        data[user].media_refs.setdefault(trace_id, []).append((ref_id, key))
    return data


class TraceMatcher(SubjectMatcher):
    subject = "trace"

    def __init__(self, config: Config):
        super().__init__(config)
        self.direction = config.traces.direction
        self.window_ms = round(config.traces.window_seconds * 1000)

    def affected(self, index: Index, keys: Iterable[tuple[str, str]]) -> set[str]:
        users: set[str] = set()
        media: list[str] = []
        for kind, key in keys:
            if kind == USER_TIME_KIND:
                users.add(key)
            elif kind == MEDIA_KIND:
                media.append(key)
        media = sorted(set(media))
        for start in range(0, len(media), CHUNK):
            users |= trace_links.users_with_media(index, media[start : start + CHUNK])
        return users

    def all_users(self, index: Index) -> list[str]:
        return trace_links.all_users(index)

    def rematch(self, index: Index, ids: set[str] | None) -> MatchDelta:
        delta = MatchDelta()
        with index.write():
            # Other workers wait for these users until the links commit (many workers).
            advisory.lock_subjects(index, self.subject, ids)
            users = self.all_users(index) if ids is None else sorted(ids)
            for start in range(0, len(users), CHUNK):
                chunk = users[start : start + CHUNK]
                delta += self._rematch_chunk(index, chunk)
        return delta

    def _rematch_chunk(self, index: Index, users: list[str]) -> MatchDelta:
        delta = MatchDelta(recomputed=len(users))
        data = load_users(index, users)
        existing = trace_links.links_of(index, users)
        stale: list[int] = []
        fresh: list[tuple[Any, ...]] = []
        for user in users:
            wanted = set(match_user(data[user], self.direction, self.window_ms))
            have = existing.get(user, {})
            stale.extend(match_id for row, match_id in have.items() if row not in wanted)
            fresh.extend((user, *row) for row in sorted(wanted, key=_row_order) if row not in have)
        faults.point("rematch.before_write")  # computed, not yet written (see conversations)
        trace_links.remove_links(index, stale)
        trace_links.add_links(index, fresh)
        delta.removed += len(stale)
        delta.added += len(fresh)
        return delta


def _row_order(row: MatchRow) -> tuple[str, str, str]:
    return row[0], row[1], row[3]
