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

from mediasyncd.digest import digest_bytes
from mediasyncd.export import naming
from mediasyncd.export.html import when
from mediasyncd.export.model import Link, MediaFile, MissingRef
from mediasyncd.export.plan import best_names
from mediasyncd.index import Index

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
    return sorted(
        str(row[0])
        for row in index.execute(
            """SELECT user_id FROM traces WHERE user_id IS NOT NULL AND user_id != ''
               UNION SELECT user_id FROM dump_images WHERE user_id != ''
               UNION SELECT user_id FROM matches WHERE subject = 'trace' AND user_id IS NOT NULL"""
        )
    )


def build_user_plans(index: Index, users: Sequence[str], salt: str) -> Iterator[UserPlan]:
    for user_id in users:
        yield _plan_user(index, user_id, salt)


def _plan_user(index: Index, user_id: str, salt: str) -> UserPlan:
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
        for r in index.execute(
            """SELECT id, ts, timestamp, name, model, session_id, input, output, content_hash
               FROM traces WHERE user_id = ? ORDER BY ts, id""",
            (user_id,),
        )
    ]
    by_trace = {t.id: t for t in traces}
    blobs: dict[str, tuple[int, str, str]] = {}
    links: dict[str, list[Link]] = {}
    for (
        trace_id,
        digest,
        strategy,
        association,
        confidence,
        size,
        mime,
        kind,
        detail,
    ) in index.execute(
        """SELECT m.trace_id, m.digest, m.strategy, m.association, m.confidence,
                  b.size, b.mime, b.kind, m.detail
           FROM matches m LEFT JOIN blobs b ON b.digest = m.digest
           WHERE m.subject = 'trace' AND m.user_id = ?
           ORDER BY m.trace_id, m.digest""",
        (user_id,),
    ):
        digest = str(digest)
        blobs[digest] = (
            int(size or 0),
            str(mime or "application/octet-stream"),
            str(kind or "data"),
        )
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
    for trace_id, key, extra in index.execute(
        # Through traces(user_id) and refs(trace_id): both indexed, refs has no user index.
        """SELECT r.trace_id, r.key, r.extra FROM traces t
           JOIN refs r ON r.trace_id = t.id AND r.subject = 'trace'
           WHERE t.user_id = ? AND r.key_kind = 'langfuse_media'
             AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = r.id)
           ORDER BY r.trace_id, r.key""",
        (user_id,),
    ):
        trace = by_trace.get(str(trace_id))
        if trace is not None:
            mime = _extra_type(extra)
            trace.missing.append(
                MissingRef(None, "langfuse_media", str(key), "inline", mime_type=mime)
            )
    photos: list[str] = []
    for digest, size, mime, kind in index.execute(
        """SELECT DISTINCT o.digest, b.size, b.mime, b.kind FROM dump_images d
           JOIN occurrences o ON o.id = d.occurrence_id
           LEFT JOIN blobs b ON b.digest = o.digest
           WHERE d.user_id = ? ORDER BY d.ts, o.digest""",
        (user_id,),
    ):
        digest = str(digest)
        blobs.setdefault(
            digest, (int(size or 0), str(mime or "application/octet-stream"), str(kind or "data"))
        )
        if digest not in photos:
            photos.append(digest)
    paired = {d for t in traces for d in t.digests}
    unpaired = [d for d in photos if d not in paired]
    order = [d for t in traces for d in t.digests] + [d for d in links if d not in paired]
    order += unpaired
    order = list(dict.fromkeys(order))
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
    files = [
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
    fingerprint = digest_bytes(
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
    return UserPlan(user_id, user_folder(user_id), traces, files, unpaired, fingerprint)


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
