"""Per-user pages of trace pairs: each Langfuse trace with the photo(s) linked to it.

Read straight from the index's `traces`, `dump_images` and `matches` (subject 'trace')
tables, so the page needs nothing from the trace reader but its rows. A user's folder is
`users/<user slug>_<hash>`; like a conversation folder it is rewritten only when its
fingerprint (traces' content hashes, links, photos, renderer version) changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Final

from mediasyncd.export import naming
from mediasyncd.export.html import when
from mediasyncd.export.model import Link, MediaFile, MissingRef
from mediasyncd.export.plan import best_names
from mediasyncd.index import Index
from mediasyncd.index import export as export_db
from mediasyncd.store.digest import digest_bytes

# Trace inputs can hold whole images as base64 data URIs: a page shows a readable head.
TEXT_LIMIT: Final = 4000


@dataclass
class TraceRow:
    id: str
    ts: float | None
    timestamp: str | None
    name: str | None
    model: str | None
    session_id: str | None
    input: str | None
    output: str | None
    content_hash: str
    digests: list[str] = field(default_factory=list)
    # Langfuse media the trace names that no stored photo satisfies yet.
    missing: list[MissingRef] = field(default_factory=list)


@dataclass
class UserPlan:
    user_id: str
    folder: str
    traces: list[TraceRow]
    files: list[MediaFile]
    unpaired: list[str]
    fingerprint: str

    @property
    def paired(self) -> int:
        return sum(1 for t in self.traces if t.digests)


def user_folder(user_id: str) -> str:
    slug = naming.slugify(user_id)
    return f"{slug}_{digest_bytes(user_id.encode('utf-8', 'surrogatepass'))[:8]}"


def list_users(index: Index) -> list[str]:
    return export_db.trace_users(index)


def build_user_plans(index: Index, users: Sequence[str], salt: str) -> Iterator[UserPlan]:
    for user_id in users:
        yield _plan_user(index, user_id, salt)


# digest -> (size, mime, kind) of the objects a user's page shows.
_Blobs = dict[str, tuple[int, str, str]]


def _plan_user(index: Index, user_id: str, salt: str) -> UserPlan:
    traces = _traces(index, user_id)
    blobs: _Blobs = {}
    links = _links(index, user_id, {t.id: t for t in traces}, blobs)
    photos = _photos(index, user_id, blobs)
    paired = {d for t in traces for d in t.digests}
    unpaired = [d for d in photos if d not in paired]
    order = [d for t in traces for d in t.digests] + [d for d in links if d not in paired]
    order += unpaired
    order = list(dict.fromkeys(order))
    files = _files(index, order, blobs, links)
    fingerprint = _fingerprint(salt, user_id, traces, files)
    return UserPlan(user_id, user_folder(user_id), traces, files, unpaired, fingerprint)


def _traces(index: Index, user_id: str) -> list[TraceRow]:
    """The user's traces, each with the media it names that no photo satisfies."""
    traces = [
        TraceRow(
            id=str(r[0]),
            ts=float(r[1]) if isinstance(r[1], int | float) else None,
            timestamp=r[2],
            name=r[3],
            model=r[4],
            session_id=r[5],
            input=r[6],
            output=r[7],
            content_hash=str(r[8]),
        )
        for r in export_db.traces_of(index, user_id)
    ]
    by_trace = {t.id: t for t in traces}
    for trace_id, key, extra in export_db.missing_media_of(index, user_id):
        trace = by_trace.get(str(trace_id))
        if trace is not None:
            mime = _extra_type(extra)
            trace.missing.append(
                MissingRef(None, "langfuse_media", str(key), "inline", mime_type=mime)
            )
    return traces


def _blob(size: Any, mime: Any, kind: Any) -> tuple[int, str, str]:
    return int(size or 0), str(mime or "application/octet-stream"), str(kind or "data")


def _links(
    index: Index, user_id: str, by_trace: dict[str, TraceRow], blobs: _Blobs
) -> dict[str, list[Link]]:
    """digest -> the links of the user's photo; each trace learns its photos."""
    links: dict[str, list[Link]] = {}
    for row in export_db.links_of(index, user_id):
        trace_id, digest, strategy, association, confidence, size, mime, kind, detail = row
        digest = str(digest)
        blobs[digest] = _blob(size, mime, kind)
        links.setdefault(digest, []).append(
            Link(
                message_id=trace_id,
                strategy=str(strategy),
                association=str(association),
                confidence=float(confidence),
                note=_gap_note(detail),
            )
        )
        trace = by_trace.get(str(trace_id))
        if trace is not None and digest not in trace.digests:
            trace.digests.append(digest)
    return links


def _photos(index: Index, user_id: str, blobs: _Blobs) -> list[str]:
    """The user's photos (digests, by time, each once)."""
    photos: list[str] = []
    for digest, size, mime, kind in export_db.photos_of(index, user_id):
        digest = str(digest)
        blobs.setdefault(digest, _blob(size, mime, kind))
        if digest not in photos:
            photos.append(digest)
    return photos


def _files(
    index: Index, order: list[str], blobs: _Blobs, links: dict[str, list[Link]]
) -> list[MediaFile]:
    """The page's files, in order, under unique readable names."""
    names = best_names(index, order)
    wanted = []
    for digest in order:
        mime = blobs[digest][1]
        wanted.append(
            (
                digest,
                naming.safe_file_name(names.get(digest), mime)
                or naming.fallback_name(digest, mime),
            )
        )
    final = naming.unique_names(wanted)
    return [
        MediaFile(
            digest=d,
            name=final[d],
            size=blobs[d][0],
            mime=blobs[d][1],
            kind=blobs[d][2],
            links=links.get(d, []),
        )
        for d in order
    ]


def _fingerprint(salt: str, user_id: str, traces: list[TraceRow], files: list[MediaFile]) -> str:
    """What the page shows, hashed: it is rewritten only when this changes."""
    return digest_bytes(
        json.dumps(
            [
                salt,
                user_id,
                [[t.id, t.content_hash, t.digests, [m.key for m in t.missing]] for t in traces],
                [
                    [
                        f.digest,
                        f.name,
                        f.size,
                        f.mime,
                        [(k.message_id, k.strategy, k.confidence, k.note) for k in f.links],
                    ]
                    for f in files
                ],
            ],
            ensure_ascii=False,
        ).encode("utf-8", "surrogatepass")
    )


def _gap_note(detail: Any) -> str | None:
    """'photo 30 s after the trace' from a time pair's detail."""
    try:
        data = json.loads(detail) if detail else {}
    except ValueError:
        return None
    gap = data.get("gap_seconds") if isinstance(data, dict) else None
    if not isinstance(gap, int | float) or isinstance(gap, bool):
        return None
    size = abs(float(gap))
    if size < 120:
        span = f"{size:.0f} s"
    elif size < 7200:
        span = f"{size / 60:.0f} min"
    else:
        span = f"{size / 3600:.1f} h"
    return f"photo {span} {'after' if gap >= 0 else 'before'} the trace"


def _extra_type(extra: Any) -> str | None:
    try:
        data = json.loads(extra) if extra else {}
    except ValueError:
        return None
    value = data.get("type") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def readable(value: str | None) -> str:
    """A trace field (stored as JSON) as text: strings as they are, the rest indented."""
    if not value:
        return ""
    try:
        decoded: Any = json.loads(value)
    except ValueError:
        decoded = value
    if decoded is None or decoded == "":
        return ""
    text = (
        decoded if isinstance(decoded, str) else json.dumps(decoded, indent=2, ensure_ascii=False)
    )
    if len(text) > TEXT_LIMIT:
        text = f"{text[:TEXT_LIMIT]}… ({len(text) - TEXT_LIMIT} more characters)"
    return text


def page_context(plan: UserPlan, zone: tzinfo, zone_name: str) -> dict[str, Any]:
    files = {f.digest: f for f in plan.files}
    return {
        "user_id": plan.user_id,
        "timezone": zone_name,
        "paired": plan.paired,
        "traces": [
            {
                "id": t.id,
                "when": when(t.ts, zone) if t.ts is not None else (t.timestamp or "unknown"),
                "name": t.name,
                "model": t.model,
                "session_id": t.session_id,
                "input": readable(t.input),
                "output": readable(t.output),
                "files": [files[d] for d in t.digests if d in files],
                "missing": t.missing,
            }
            for t in plan.traces
        ],
        "unpaired_photos": [files[d] for d in plan.unpaired if d in files],
    }
