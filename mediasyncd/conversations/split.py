"""A conversation array read once and kept as one object per conversation plus a recipe.

conversations.json (or an era B shard) is scanned in bounded windows
(mediasyncd.conversations.spans). Each conversation's raw bytes get their XXH3-128: if a
conversation is already recorded from exactly those bytes (last month's export said the
same), nothing is parsed, extracted or written for it. Otherwise its bytes are stored as
an object of their own (compressed, `.z`), parsed, extracted and recorded. The document
itself is then kept as a recipe (`.r`): its literal separators and the digests of its
conversations, from which it is reassembled byte for byte under its own digest, and its
plain copy goes. A month's export thus adds only the conversations that changed.

Anything the scanner does not expect ends the fast path (`ScanAbandoned`): the caller
reads the document with the streaming parser, which has the error messages, caps and
partial results for every damaged or odd document; the conversations recorded before
are found unchanged there. See docs/architecture.md,
"Documents: compressed objects and recipes".
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from mediasyncd import faults
from mediasyncd.conversations.extract import ConversationData
from mediasyncd.conversations.helper import Extraction
from mediasyncd.conversations.item import Extracted
from mediasyncd.conversations.spans import ArrayScan, Item, ScanAbandoned
from mediasyncd.index import conversations as conversations_db
from mediasyncd.index import objects
from mediasyncd.logconfig import get_logger
from mediasyncd.sources.base import InterpretContext, StoredOccurrence
from mediasyncd.store import documents
from mediasyncd.store.digest import digest_bytes, new_hasher

# Conversations parsed and recorded per write transaction.
BATCH = 200
BATCH_BYTES = 32 << 20
MIME = "application/json"
# Marks a document kept as a recipe (the `documents` table, beside its interpreters).
RECIPE_MARK = objects.RECIPE_MARK

# chat.html embeds the conversations as `var jsonData = [...];`.
CHAT_HTML_MARKER = b"var jsonData = "
# Documents compressed whole (in memory): smaller ones gain nothing, larger ones stay plain.
COMPRESS_MIN = 4096
COMPRESS_MAX = 64 << 20

RecordBatch = Callable[[list[ConversationData]], None]

log = get_logger("mediasyncd.chatgpt")


@dataclass
class _Pending:
    items: list[tuple[str, bytes]] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True)
class _Queued:
    """A batch handed to the extraction: its items, those the index knows (digest ->
    conversation), and the raw bytes of the rest, in the order they were handed over."""

    pending: _Pending
    known: dict[str, str]
    fresh: dict[str, bytes]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ArraySplitter:
    """Reads one stored conversation array the fast way (see the module)."""

    def __init__(
        self,
        ctx: InterpretContext,
        occurrence: StoredOccurrence,
        record: RecordBatch | None,
        *,
        embedded_after: bytes | None = None,
    ):
        """`record` None: only keep the document as a recipe (chat.html, whose
        conversations conversations.json holds too), nothing is parsed or recorded."""
        self.ctx = ctx
        self.occurrence = occurrence
        self.record = record
        self.marker = embedded_after
        self.limits = ctx.config.limits
        self.parts: list[documents.Part] = []
        self.conversation_of: dict[str, str | None] = {}
        self.position = 0
        self.extraction = Extraction(0, 0, compress=False, helper=False)
        self._queued: _Queued | None = None

    def run(self) -> bool:
        """True when the document was read; False: read it with the streaming parser."""
        hasher = new_hasher()
        pending = _Pending()
        failures_before = len(self.ctx.failures)
        limits = self.limits
        helper = (
            self.record is not None
            and self.ctx.config.ingest.helper_process
            and self.occurrence.size >= self.ctx.config.ingest.helper_min_bytes
            and _cores() > 1
        )
        with Extraction(
            limits.max_json_depth,
            limits.max_conversation_nodes,
            compress=self.ctx.store.keeps_forms(),
            helper=helper,
        ) as extraction:
            self.extraction = extraction
            if extraction.pid is not None:
                log.debug("helper.started", member=self.occurrence.member, pid=extraction.pid)
            try:
                with self.ctx.store.open(self.occurrence.digest) as handle:
                    scan = ArrayScan(
                        handle,
                        max_item_bytes=limits.max_conversation_bytes,
                        embedded_after=self.marker,
                    )
                    for piece in scan:
                        hasher.update(piece.data)
                        if not isinstance(piece, Item):
                            self._literal(piece.data)
                            continue
                        digest = digest_bytes(piece.data)
                        self.parts.append(documents.Part(len(piece.data), digest))
                        pending.items.append((digest, piece.data))
                        pending.size += len(piece.data)
                        if len(pending.items) >= BATCH or pending.size >= BATCH_BYTES:
                            self._flush(pending)
                            pending = _Pending()
                abandoned = False
            except ScanAbandoned:
                abandoned = True
            self._flush(pending)
            self._finish()
            if extraction.trouble is not None:
                log.warning(
                    "helper.abandoned", member=self.occurrence.member, reason=extraction.trouble
                )
        if abandoned:
            # The streaming parser reads the whole document again and reports each
            # conversation it skips itself.
            del self.ctx.failures[failures_before:]
            return False
        if hasher.hexdigest() == self.occurrence.digest:
            self._keep_as_recipe()
        return True

    def _literal(self, data: bytes) -> None:
        last = self.parts[-1] if self.parts else None
        if last is not None and last.digest is None:
            literal = last.literal + data
            self.parts[-1] = documents.Part(len(literal), None, literal)
        else:
            self.parts.append(documents.Part(len(data), None, data))

    def _flush(self, pending: _Pending) -> None:
        """Hand the batch's new conversations to the extraction, then record the batch
        before it: the helper extracts this one meanwhile."""
        if not pending.items:
            return
        known = conversations_db.known_documents(
            self.ctx.index, [digest for digest, _ in pending.items]
        )
        # A conversation twice in the document (or in the batch still in the works) is
        # extracted once; its first place records it.
        queued = self._queued.fresh if self._queued is not None else {}
        fresh: dict[str, bytes] = {}
        if self.record is not None:
            for digest, raw in pending.items:
                if digest not in known and digest not in queued:
                    fresh.setdefault(digest, raw)
        previous = self._collect()
        # Handed over before the previous batch is written, so that both go on at once.
        self.extraction.submit(list(fresh.values()))
        self._queued = _Queued(pending, known, fresh)
        if previous is not None:
            self._record(*previous)

    def _finish(self) -> None:
        """Record the batch handed over last."""
        previous = self._collect()
        if previous is not None:
            self._record(*previous)

    def _collect(self) -> tuple[_Queued, dict[str, Extracted]] | None:
        """The batch handed over last, with what its extraction gave."""
        queued, self._queued = self._queued, None
        if queued is None:
            return None
        return queued, dict(zip(queued.fresh, self.extraction.collect(), strict=True))

    def _record(self, queued: _Queued, results: dict[str, Extracted]) -> None:
        """Keep the batch's new conversations as objects and record them, in one write."""
        pending, known = queued.pending, queued.known
        new_items = [(d, raw) for d, raw in pending.items if d not in known]
        compressed = {d: r.compressed for d, r in results.items() if r.compressed is not None}
        stored = keep_objects(self.ctx, new_items, compressed)
        batch: list[ConversationData] = []
        for digest, _ in pending.items:
            self.position += 1
            if digest in known:
                self.conversation_of[digest] = known[digest]
                continue
            result = results.pop(digest, None)
            if result is None:
                # Not to be parsed (record None), or recorded at its first place.
                self.conversation_of.setdefault(digest, None)
                continue
            data = result.data
            self.conversation_of.setdefault(digest, data.id if data else None)
            if data is None:
                label = f"conversation #{self.position}"
                if result.ident is not None:
                    label = f"conversation {result.ident} (#{self.position})"
                failure = f"{label} skipped: {result.failure}"
                self.ctx.failures.append((self.occurrence.member, failure))
                continue
            batch.append(replace(data, document=digest))
        # One transaction: the objects' rows and the conversations that name them.
        with self.ctx.index.write():
            objects.record_blobs(
                self.ctx.index,
                [objects.NewBlob(digest, size, MIME, None, False) for digest, size in stored],
            )
            if self.record is not None:
                self.record(batch)

    def _keep_as_recipe(self) -> None:
        """The document as a recipe of its conversations' objects; its plain copy goes
        once the recipe and the index rows that name its parts are durable."""
        ctx, digest = self.ctx, self.occurrence.digest
        if not ctx.store.keeps_forms() or ctx.store.form_of(digest) != documents.PLAIN:
            return
        ctx.store.put_form(
            digest,
            documents.RECIPE,
            documents.encode_recipe(self.parts),
            known=lambda d: objects.blob_info(ctx.index, d) is not None,
        )
        with ctx.index.write():
            conversations_db.record_document_parts(ctx.index, digest, self.conversation_of.items())
            objects.mark_document(ctx.index, digest, RECIPE_MARK)
        faults.point("documents.before_drop_plain")
        ctx.store.drop_plain(digest)


def keep_objects(
    ctx: InterpretContext,
    items: list[tuple[str, bytes]],
    compressed: Mapping[str, bytes] | None = None,
) -> list[tuple[str, int]]:
    """Store conversations' bytes as objects of their own (compressed where the store
    can, durable together), except those the index already vouches for; returns the
    (digest, size) whose blob rows are still to be written. `compressed`: the payloads
    the helper compressed already, by digest."""
    store = ctx.store

    def known(candidate: str) -> bool:
        return objects.blob_info(ctx.index, candidate) is not None

    todo: dict[str, bytes] = {}
    for digest, raw in items:
        if not (known(digest) and store.has(digest)):
            todo[digest] = raw
    if store.keeps_forms():
        ready = compressed or {}
        forms = [
            (d, documents.COMPRESSED, ready.get(d) or documents.compress(raw))
            for d, raw in todo.items()
        ]
        store.put_forms(forms, known=known)
    else:
        for raw in todo.values():
            store.put_stream(io.BytesIO(raw), known=known)
    return [(digest, len(raw)) for digest, raw in todo.items()]


def compact(ctx: InterpretContext, occurrence: StoredOccurrence) -> None:
    """Keep a document the drop carried compressed (one zstd object), or chat.html as a
    recipe of the conversations' objects, once it has been read; its plain copy goes."""
    store = ctx.store
    digest = occurrence.digest
    if not store.keeps_forms() or store.form_of(digest) != documents.PLAIN:
        return
    if len(store.locations(digest)) > 1:
        store.drop_plain(digest)  # stored plainly again by a re-drop
        return
    is_chat_html = occurrence.member.rsplit("/", 1)[-1] == "chat.html"
    if is_chat_html and ArraySplitter(ctx, occurrence, None, embedded_after=CHAT_HTML_MARKER).run():
        return
    if not COMPRESS_MIN <= occurrence.size <= COMPRESS_MAX:
        return
    with store.open(digest) as handle:
        data = handle.read(COMPRESS_MAX + 1)
    if digest_bytes(data) != digest:
        return  # not what its name says: left for verify to report
    store.put_form(digest, documents.COMPRESSED, documents.compress(data))
    store.drop_plain(digest)


def conversation_bytes(conversation: dict[str, Any]) -> bytes:
    """A parsed conversation as bytes to keep, when its raw bytes are not at hand (the
    streaming parser's path)."""
    try:
        return orjson.dumps(conversation)
    except (TypeError, orjson.JSONEncodeError):
        text = json.dumps(conversation, ensure_ascii=False, default=str)
        return text.encode("utf-8", "surrogatepass")


def keeps_recipe(ctx: InterpretContext, digest: str) -> bool:
    return objects.document_seen(ctx.index, digest, RECIPE_MARK)
