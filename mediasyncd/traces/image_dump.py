"""Image dumps: photos laid out `<prefix>/<user_id>/<file>`, as `aws s3 sync` leaves them.

Each photo under a user folder becomes a `dump_images` row (user, upload time, where the
time came from) and gets two lookup keys: ('user_time', user id; extra = the object key
from the prefix on) and ('langfuse_media', media id from the SHA-256 of its bytes), so the
trace matcher rematches exactly the users a dump touches.

The time comes from the most trusted clock available (mediasyncd.traces.imagetime): an
`aws s3api list-objects-v2` listing inside the drop, EXIF, the file name, the mtime.
A dump may also carry trace exports (JSON, JSONL, CSV); they are read as a trace drop's.

Detection cannot see the configuration (handlers are built without it), so it looks for
the shape: a listing, the default `meal-images/<user>/<image>` layout, or photos spread
over several folders of one parent. Interpretation then applies the configured prefix
and user-id position; a photo outside any user folder is stored, and reported.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Final

import ijson

from mediasyncd import jsonstream
from mediasyncd.config import ImagesConfig
from mediasyncd.index import objects
from mediasyncd.sources.base import (
    InterpretContext,
    InterpretResult,
    OccurrenceKey,
    Role,
    SourceHandler,
    SourceProbe,
    StoredOccurrence,
)
from mediasyncd.sources.container import NESTED_SEPARATOR, Member
from mediasyncd.store import PutResult
from mediasyncd.store.digest import langfuse_media_id
from mediasyncd.timeutil import parse_timezone
from mediasyncd.traces.imagetime import (
    exif_times,
    filename_time,
    mtime_time,
    parse_listing_time,
)
from mediasyncd.traces.langfuse import (
    SUBJECT,
    interpret_trace_documents,
    is_chatgpt_export,
    is_document_name,
    is_image_name,
)
from mediasyncd.traces.record import (
    DumpImage,
    existing_dump_images,
    forget_dump_images,
    record_dump_images,
)

DEFAULT_PREFIX: Final = ImagesConfig().prefix
BATCH: Final = 500
LISTING_HEAD: Final = 4096
# A listing of a whole bucket next to a partial dump would name every other object: the
# first ones are reported one by one, the rest counted.
MAX_LISTING_REPORTS: Final = 1000
STRUCTURE_SHARE: Final = 0.8


def is_listing_head(head: bytes) -> bool:
    return b'"Contents"' in head and b'"Key"' in head


@dataclass(frozen=True)
class Placement:
    user_id: str
    key: str  # the object key from the prefix on


def place(source: Path, member: str, images: ImagesConfig) -> Placement | None:
    """Whose photo this member is, by the `<prefix>/<user_id>/<file>` layout.

    The prefix is looked for in the member's own path first. Only when it is not there
    does the dropped folder's own name (a zip's stem) count as the first component, so
    dropping the `meal-images` folder itself works, and so does `meal-images.zip`
    whether it holds `<user>/…` or, as `zip -r meal-images.zip meal-images` writes it,
    `meal-images/<user>/…`. Positions count from the prefix (0 = the prefix); an empty
    prefix means the drop's root.
    """
    inner = member.replace(NESTED_SEPARATOR, "/").split("/")
    prefix = [p for p in images.prefix.strip("/").split("/") if p]
    if not prefix:
        parts = ["", *inner]
        start, user_at = 1, images.user_id_position
    else:
        label = source.stem if source.suffix.lower() == ".zip" else source.name
        found = _find(inner, prefix)
        parts = inner if found is not None else [label, *inner]
        start_or_none = found if found is not None else _find(parts, prefix)
        if start_or_none is None:
            return None
        start = start_or_none
        user_at = start + len(prefix) - 1 + images.user_id_position
    if images.user_id_position < 1 or user_at >= len(parts) - 1 or not parts[user_at].strip():
        return None
    return Placement(parts[user_at], "/".join(parts[start:]))


def _find(parts: list[str], prefix: list[str]) -> int | None:
    return next((k for k in range(len(parts)) if parts[k : k + len(prefix)] == prefix), None)


def listing_key(key: str, images: ImagesConfig) -> str | None:
    """A listing's Key from the prefix on (listings may start above the prefix)."""
    parts = [p for p in key.strip("/").split("/") if p]
    prefix = [p for p in images.prefix.strip("/").split("/") if p]
    if not prefix:
        return "/".join(parts) or None
    for k in range(len(parts)):
        if parts[k : k + len(prefix)] == prefix:
            return "/".join(parts[k:])
    return None


class ImageDumpHandler(SourceHandler):
    kind = "image_dump"

    def __init__(self) -> None:
        # member path -> (mtime_ns, from a zip): seen while storing, used when interpreting.
        self._mtimes: dict[str, tuple[int, bool]] = {}

    # -- detection -------------------------------------------------------------------------

    def detect(self, probe: SourceProbe) -> int:
        if is_chatgpt_export(probe.paths):
            return 0
        images = [p for p in probe.paths if is_image_name(p)]
        if not images:
            return 0
        documents = [p for p in probe.paths if is_document_name(p)][:20]
        if any(is_listing_head(probe.read_head(p, LISTING_HEAD)) for p in documents):
            return 70
        label = probe.source.stem if probe.source.suffix.lower() == ".zip" else probe.source.name
        # The configured prefix (a setting) as well as the default one.
        prefixes = {DEFAULT_PREFIX}
        if self.config is not None and self.config.images.prefix:
            prefixes.add(self.config.images.prefix)
        for path in images:
            parts = [label, *path.split("/")]
            if prefixes & set(parts[:-2]):
                return 65
        if _user_folders_shape(images):
            return 45
        # Trace files beside loose photos: the trace reader takes the drop (score 40).
        return 0

    # -- storing ---------------------------------------------------------------------------

    def role(self, member: Member) -> Role | None:
        return "document" if is_document_name(member.path) else "media"

    def want_sha256(self, member: Member) -> bool:
        # Langfuse media ids are the SHA-256 of the bytes: hash while they stream past.
        return not is_document_name(member.path)

    def keys(self, member: Member, stored: PutResult) -> Iterable[OccurrenceKey]:
        # User and object key need the drop's name (interpret has it); the mtime is only
        # here, and survives a reindex because manifests keep it.
        if member.mtime_ns is not None:
            self._mtimes[member.path] = (member.mtime_ns, member.crc32 is not None)
        return ()

    # -- interpreting ----------------------------------------------------------------------

    def interpret(self, ctx: InterpretContext) -> InterpretResult:
        images_config = ctx.config.images
        naive = parse_timezone(images_config.naive_timezone)
        placed: list[tuple[StoredOccurrence, Placement]] = []
        outside: list[int] = []
        documents: list[StoredOccurrence] = []
        for occurrence in ctx.occurrences:
            if occurrence.role == "document":
                documents.append(occurrence)
                continue
            if not occurrence.mime.startswith("image/"):
                continue
            placement = place(ctx.source, occurrence.member, images_config)
            if placement is None:
                outside.append(occurrence.occurrence_id)
                ctx.notes.append(
                    (
                        occurrence.member,
                        f"image is not under {images_config.prefix or '<drop>'}/<user_id>/ "
                        f"(user id at position {images_config.user_id_position}): stored, "
                        "but linked to no user",
                    )
                )
                continue
            placed.append((occurrence, placement))
        listings: list[StoredOccurrence] = []
        others: list[StoredOccurrence] = []
        for document in documents:
            (listings if is_listing_head(self._head(ctx, document)) else others).append(document)
        result = interpret_trace_documents(ctx, others)
        listed = self._read_listings(ctx, listings, placed)
        shas = objects.sha256_of(ctx.index, {o.digest for o, _ in placed})
        existing = existing_dump_images(ctx.index, ctx.source_id)
        changed: set[tuple[str, str]] = set()
        touched: set[str] = set()
        batch: list[DumpImage] = []
        for occurrence, placement in placed:
            batch.append(self._image(ctx, occurrence, placement, listed, shas, existing, naive))
            if len(batch) >= BATCH:
                with ctx.index.write():
                    touched |= record_dump_images(ctx.index, batch, existing, changed)
                batch.clear()
        with ctx.index.write():
            touched |= record_dump_images(ctx.index, batch, existing, changed)
            touched |= forget_dump_images(ctx.index, outside)
        result.touch(SUBJECT, touched)
        result.changed_keys |= changed
        return result

    def _head(self, ctx: InterpretContext, occurrence: StoredOccurrence) -> bytes:
        with ctx.store.open(occurrence.digest) as stream:
            return stream.read(LISTING_HEAD)

    def _read_listings(
        self,
        ctx: InterpretContext,
        listings: list[StoredOccurrence],
        placed: list[tuple[StoredOccurrence, Placement]],
    ) -> dict[str, tuple[datetime, int | None]]:
        """object key -> (LastModified, Size) for the keys this dump holds."""
        wanted = {placement.key for _, placement in placed}
        listed: dict[str, tuple[datetime, int | None]] = {}
        missing = 0
        for listing in listings:
            for where, entry in _listing_entries(ctx, listing):
                if isinstance(entry, str):
                    ctx.failures.append((listing.member, f"{where}: {entry}"))
                    continue
                raw_key = entry.get("Key")
                if not isinstance(raw_key, str) or raw_key.endswith("/"):
                    continue  # folder markers and junk carry no photo
                key = listing_key(raw_key, ctx.config.images)
                if key is None or key not in wanted:
                    missing += 1
                    if missing <= MAX_LISTING_REPORTS:
                        ctx.failures.append(
                            (listing.member, f"listing names {raw_key}, which this dump lacks")
                        )
                    continue
                stamp = parse_listing_time(entry.get("LastModified"))
                if stamp is None:
                    ctx.failures.append(
                        (
                            listing.member,
                            f"listing entry {raw_key}: unparseable LastModified "
                            f"{entry.get('LastModified')!r}",
                        )
                    )
                    continue
                size = entry.get("Size")
                listed[key] = (stamp, int(size) if isinstance(size, int | float) else None)
        if missing > MAX_LISTING_REPORTS:
            ctx.failures.append(
                (
                    listings[0].member,
                    f"listing names {missing - MAX_LISTING_REPORTS} more objects this dump lacks",
                )
            )
        return listed

    def _image(
        self,
        ctx: InterpretContext,
        occurrence: StoredOccurrence,
        placement: Placement,
        listed: dict[str, tuple[datetime, int | None]],
        shas: dict[str, str],
        existing: dict[int, tuple[object, ...]],
        naive: tzinfo,
    ) -> DumpImage:
        sha = shas.get(occurrence.digest)
        media_id = langfuse_media_id(bytes.fromhex(sha)) if sha else None
        moment, source = self._time(ctx, occurrence, placement, listed, existing, naive)
        if moment is None:
            ctx.notes.append(
                (
                    occurrence.member,
                    "no usable time (no listing entry, EXIF date, time in the name or "
                    "mtime): it can be linked only by a Langfuse media reference",
                )
            )
        return DumpImage(
            occurrence.occurrence_id,
            placement.user_id,
            placement.key,
            media_id,
            moment.isoformat(timespec="seconds") if moment else None,
            moment.timestamp() if moment else None,
            source,
        )

    def _time(
        self,
        ctx: InterpretContext,
        occurrence: StoredOccurrence,
        placement: Placement,
        listed: dict[str, tuple[datetime, int | None]],
        existing: dict[int, tuple[object, ...]],
        naive: tzinfo,
    ) -> tuple[datetime | None, str | None]:
        entry = listed.get(placement.key)
        if entry is not None:
            if entry[1] is None or entry[1] == occurrence.size:
                return entry[0], "listing"
            ctx.notes.append(
                (
                    occurrence.member,
                    f"the listing says {entry[1]} bytes but the file has {occurrence.size}: "
                    "its LastModified describes another version, not used",
                )
            )
        before = existing.get(occurrence.occurrence_id)
        if before is not None and before[3] == "exif" and isinstance(before[2], float):
            # Same occurrence, same bytes: its EXIF has not changed; skip reopening it.
            return datetime.fromisoformat(str(before[1])), "exif"
        with ctx.store.open(occurrence.digest) as stream:
            exact, local = exif_times(stream, naive)
        if exact is not None:
            return exact, "exif"
        named = filename_time(occurrence.member, naive)
        if named is not None:
            return named, "filename"
        if local is not None:
            return local, "exif_local"
        mtime = self._mtimes.get(occurrence.member)
        if mtime is None and ctx.source.is_dir():
            try:
                mtime = ((ctx.source / occurrence.member).stat().st_mtime_ns, False)
            except OSError:
                mtime = None
        if mtime is not None:
            moment = mtime_time(mtime[0], from_zip=mtime[1], naive_zone=naive)
            if moment is not None:
                return moment, "mtime"
        return None, None


def _listing_entries(
    ctx: InterpretContext, listing: StoredOccurrence
) -> Iterator[tuple[str, dict[str, object] | str]]:
    """Entries of a listing (several concatenated pages allowed), or a problem text."""
    count = 0
    with ctx.store.open(listing.digest) as stream:
        try:
            entries = jsonstream.items(
                stream,
                "Contents.item",
                max_depth=ctx.config.limits.max_json_depth,
                multiple_values=True,
            )
            for entry in entries:
                count += 1
                if isinstance(entry, dict):
                    yield f"entry {count}", entry
                else:
                    yield f"entry {count}", "not an object"
        except jsonstream.JsonTooDeep as exc:
            yield f"after entry {count}", f"the listing's {exc}"
        except ijson.JSONError as exc:
            text = " ".join(str(exc).split())[:200]
            yield f"after entry {count}", f"the listing's JSON breaks off here: {text}"
        except (ValueError, json.JSONDecodeError) as exc:
            yield f"after entry {count}", f"unreadable listing: {exc}"


def _user_folders_shape(images: list[str]) -> bool:
    """Most photos sit in per-user folders of one parent: `<parent>/<user>/<photo>`."""
    parents: Counter[str] = Counter()
    users: dict[str, set[str]] = {}
    for path in images:
        parts = path.split("/")
        if len(parts) < 2:
            continue
        grand = "/".join(parts[:-2])
        parents[grand] += 1
        users.setdefault(grand, set()).add(parts[-2])
    if not parents:
        return False
    grand, count = parents.most_common(1)[0]
    return len(users[grand]) >= 2 and count >= STRUCTURE_SHARE * len(images)
