"""Langfuse trace exports: API pages, UI batch exports (JSON, JSONL, CSV), downloads.

The files are stored like any other member, then read back from the store as a stream
(mediasyncd.traces.parse) and recorded in `traces`, with one `refs` row per Langfuse media
reference (key_kind 'langfuse_media', key = media id). Traces are matched per user, so
the users whose traces are new or changed are handed to the trace matcher.

A record that cannot be used is reported (member, "line N (trace id): why") and skipped;
the rest of the file is ingested. An export already read (same bytes) is not read again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from mediasyncd.index import objects
from mediasyncd.sources.base import (
    InterpretContext,
    InterpretResult,
    Role,
    SourceHandler,
    SourceProbe,
    StoredOccurrence,
)
from mediasyncd.sources.container import Member
from mediasyncd.traces.parse import (
    HEAD_BYTES,
    Problem,
    TraceRecord,
    looks_like_trace_export,
    read_traces,
)
from mediasyncd.traces.record import record_traces

# The subject of the trace matcher; the ids it rematches are user ids.
SUBJECT: Final = "trace"
INTERPRETER: Final = "langfuse"
DOCUMENT_SUFFIXES: Final = (".json", ".jsonl", ".ndjson", ".csv")
IMAGE_SUFFIXES: Final = (
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".heic",
    ".heif",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".avif",
)
# Documents only a ChatGPT export carries: a drop with one of these is never ours.
CHATGPT_MARKERS: Final = frozenset(
    {
        "conversations.json",
        "chat.html",
        "conversation_asset_file_names.json",
        "library_files.json",
        "export_manifest.json",
        "message_feedback.json",
        "shared_conversations.json",
    }
)
BATCH: Final = 500
PROBE_DOCUMENTS: Final = 50


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def is_chatgpt_export(paths: Iterable[str]) -> bool:
    for path in paths:
        name = basename(path).lower()
        if name in CHATGPT_MARKERS or (
            name.startswith("conversations-") and name.endswith(".json")
        ):
            return True
    return False


def is_document_name(path: str) -> bool:
    return basename(path).lower().endswith(DOCUMENT_SUFFIXES)


def is_image_name(path: str) -> bool:
    return basename(path).lower().endswith(IMAGE_SUFFIXES)


def count_trace_documents(probe: SourceProbe) -> int:
    """How many of the first few JSON/CSV members look like trace exports."""
    found = 0
    for path in [p for p in probe.paths if is_document_name(p)][:PROBE_DOCUMENTS]:
        if looks_like_trace_export(probe.read_head(path, HEAD_BYTES)):
            found += 1
    return found


class LangfuseHandler(SourceHandler):
    kind = "langfuse"

    def detect(self, probe: SourceProbe) -> int:
        if is_chatgpt_export(probe.paths) or count_trace_documents(probe) == 0:
            return 0
        # Trace files among photos: an image dump that carries its traces along scores
        # higher and reads both; otherwise the photos are just stored.
        return 40 if any(is_image_name(p) for p in probe.paths) else 80

    def role(self, member: Member) -> Role | None:
        return "document" if is_document_name(member.path) else "media"

    def interpret(self, ctx: InterpretContext) -> InterpretResult:
        documents = [o for o in ctx.occurrences if o.role == "document"]
        return interpret_trace_documents(ctx, documents)


def interpret_trace_documents(
    ctx: InterpretContext, documents: Iterable[StoredOccurrence]
) -> InterpretResult:
    """Read every trace export among `documents` into the index (others are left alone)."""
    result = InterpretResult()
    for occurrence in documents:
        if _already_read(ctx, occurrence.digest):
            continue
        with ctx.store.open(occurrence.digest) as stream:
            head = stream.read(HEAD_BYTES)
        if not looks_like_trace_export(head):
            continue
        pending: list[TraceRecord] = []
        # The same trace may sit twice in one file (pages overlap): the last copy wins.
        for item in _read(ctx, occurrence):
            if isinstance(item, Problem):
                ctx.failures.append((occurrence.member, f"{item.where}: {item.message}"))
                continue
            pending.append(item)
            if len(pending) >= BATCH:
                result.touch(SUBJECT, _flush(ctx, pending))
        result.touch(SUBJECT, _flush(ctx, pending))
        with ctx.index.write():
            objects.mark_document(ctx.index, occurrence.digest, INTERPRETER)
    return result


def _read(ctx: InterpretContext, occurrence: StoredOccurrence) -> Iterable[TraceRecord | Problem]:
    return read_traces(
        lambda: ctx.store.open(occurrence.digest), max_depth=ctx.config.limits.max_json_depth
    )


def _already_read(ctx: InterpretContext, digest: str) -> bool:
    return objects.document_seen(ctx.index, digest, INTERPRETER)


def _flush(ctx: InterpretContext, pending: list[TraceRecord]) -> set[str]:
    if not pending:
        return set()
    with ctx.index.write():
        touched = record_traces(ctx.index, pending, ctx.source_id)
    pending.clear()
    return touched
