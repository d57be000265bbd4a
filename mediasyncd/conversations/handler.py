"""ChatGPT data exports (eras A, B, C, multi-part) and privacy-request archives.

Both are read the same way: every media member is stored with the keys its path gives
(file ids, conversation-id folders, names); the JSON documents are stored too and then
interpreted from the store, streaming: conversations (array, object or shards), the era C
`.dat` name map, `library_files.json`, and chat.html's `assetsJson`. Nested zips of a
multi-part export (`Conversations__…part-001.zip`, `Files__…files-001.zip`) and of a
privacy archive (`Dall-E__…`, `Files__…`, `Conversations__…`) are read in place.

Detection is by content: the names of the documents an export always carries, or the
nested zip names and `personal/…` layout of a privacy archive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any, Final

from mediasyncd.conversations import record as conv_record
from mediasyncd.conversations import split
from mediasyncd.conversations.extract import (
    ConversationData,
    ConversationShapeError,
    extract_conversation,
)
from mediasyncd.conversations.keys import (
    file_id_in_name,
    keys_for_member,
    keys_for_original_name,
    pointer_id,
)
from mediasyncd.conversations.parse import (
    ConversationStream,
    DocumentError,
    Opener,
    OversizedConversation,
    extract_assets_json,
    iter_json_array,
    load_small_json,
)
from mediasyncd.index import objects
from mediasyncd.ingest import completeness
from mediasyncd.logconfig import get_logger
from mediasyncd.sources.base import (
    InterpretContext,
    InterpretResult,
    OccurrenceKey,
    Role,
    SourceHandler,
    SourceProbe,
    StoredOccurrence,
)
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult
from mediasyncd.store.digest import digest_bytes
from mediasyncd.store.mediatype import kind_of

log = get_logger("mediasyncd.chatgpt")

# The subject of the links this kind's matcher makes, and the `ingest --json` counters
# of what interpreting changed (mediasyncd.conversations.kind registers both).
SUBJECT: Final = "conversation"
_COUNTERS: Final = {"new": "conversations_new", "changed": "conversations_changed"}
COUNTERS: Final = tuple(_COUNTERS.values())

_CONVERSATION_DOC: Final = re.compile(r"^conversations(?:-\d+)?\.json$")
_NESTED_ZIP: Final = re.compile(r"^(?:Conversations|Files|Dall-E)__.*\.zip$", re.IGNORECASE)
_EXPORT_DOCS: Final = frozenset(
    {
        "conversations.json",
        "conversation_asset_file_names.json",
        "library_files.json",
        "export_manifest.json",
        "chat.html",
        "user.json",
        "message_feedback.json",
        "shared_conversations.json",
        "user_settings.json",
        "model_comparisons.json",
        "group_chats.json",
        "shopping.json",
        "sora.json",
        "ads.json",
        "conversations.json.index",
    }
)
_ACCOUNT_ZIP: Final = re.compile(r"^([0-9a-f]{64})-\d{4}-\d{2}-\d{2}")
COMMIT_EVERY: Final = 200
MESSAGES_PER_BATCH: Final = 20_000


def _basename(path: str) -> str:
    return path.rsplit("!/", 1)[-1].rsplit("/", 1)[-1]


def is_document_name(path: str) -> bool:
    """The export's own documents: known names anywhere (`sites/export_manifest.json`),
    and any JSON file at the root of the export or of one of its parts, since every new
    export adds documents (2026: `ads.json`) and uploads at the root carry a file id."""
    name = _basename(path)
    if file_id_in_name(name):
        return False  # an uploaded file, whatever its extension
    if name in _EXPORT_DOCS or _CONVERSATION_DOC.match(name):
        return True
    parts = path.rsplit("!/", 1)[-1].split("/")
    if len(parts) == 1 and name.lower().endswith(".json"):
        return True
    # DALL·E labs generation folders keep the prompt next to the image.
    return name == "caption.txt" and any(p.startswith("generation-") for p in parts)


class _ChatGPTBase(SourceHandler):
    def expand(self, path: str) -> bool:
        return bool(_NESTED_ZIP.match(_basename(path)))

    def role(self, member: Member) -> Role | None:
        return "document" if is_document_name(member.path) else "media"

    def keys(self, member: Member, stored: PutResult) -> Iterable[OccurrenceKey]:
        if is_document_name(member.path):
            return []
        is_image = kind_of(stored.mime) == "image"
        return [
            OccurrenceKey(kind, key, extra)
            for kind, key, extra in keys_for_member(
                member.path, size=stored.size, is_image=is_image
            )
        ]

    def interpret(self, ctx: InterpretContext) -> InterpretResult:
        result = InterpretResult()
        documents = [o for o in ctx.occurrences if o.role == "document"]
        account = self._account(ctx)
        # Maps first: they add keys that the conversations' references then find.
        for occurrence in documents:
            name = _basename(occurrence.member)
            if name == "conversation_asset_file_names.json":
                self._interpret_dat_map(ctx, occurrence, result)
            elif name == "chat.html":
                self._interpret_assets_json(ctx, occurrence, result)
        for occurrence in documents:
            if _CONVERSATION_DOC.match(_basename(occurrence.member)):
                self._interpret_conversations(ctx, occurrence, result, account)
        for occurrence in documents:
            if _basename(occurrence.member) == "library_files.json":
                self._interpret_library(ctx, occurrence, result)
        self._interpret_manifests(ctx, documents)
        # Read: now kept compressed, or as recipes of the conversations' objects.
        for occurrence in documents:
            split.compact(ctx, occurrence)
        return result

    # -- documents -------------------------------------------------------------------------

    def _account(self, ctx: InterpretContext) -> str | None:
        for occurrence in ctx.occurrences:
            if _basename(occurrence.member) == "user.json":
                try:
                    data = load_small_json(
                        _opener(ctx, occurrence),
                        occurrence.size,
                        limit=1 << 20,
                        max_depth=ctx.config.limits.max_json_depth,
                    )
                except DocumentError:
                    continue
                if isinstance(data, dict):
                    for field in ("id", "email"):
                        if isinstance(data.get(field), str) and data[field]:
                            return str(data[field])
        match = _ACCOUNT_ZIP.match(ctx.source.name)
        return match.group(1) if match else None

    def _interpret_conversations(
        self,
        ctx: InterpretContext,
        occurrence: StoredOccurrence,
        result: InterpretResult,
        account: str | None,
    ) -> None:
        interpreter = "conversations"
        if objects.document_seen(ctx.index, occurrence.digest, interpreter):
            if split.keeps_recipe(ctx, occurrence.digest):
                # Stored plainly again by a re-drop: the recipe holds it already.
                ctx.store.drop_plain(occurrence.digest)
            return

        def record(batch: list[ConversationData]) -> None:
            self._record_batch(ctx, batch, result, account)

        if split.ArraySplitter(ctx, occurrence, record).run():
            with ctx.index.write():
                objects.mark_document(ctx.index, occurrence.digest, interpreter)
            return
        stream = ConversationStream(
            _opener(ctx, occurrence),
            max_nodes=ctx.config.limits.max_conversation_nodes,
            max_depth=ctx.config.limits.max_json_depth,
        )
        # Each conversation is extracted as it arrives, so a batch holds rows, never the
        # parsed JSON of 200 conversations; a batch also ends after MESSAGES_PER_BATCH.
        batch: list[ConversationData] = []
        messages = 0
        for position, raw in enumerate(stream):
            try:
                data = extract_conversation(raw)
            except ConversationShapeError as exc:
                label = _conversation_label(raw, position)
                ctx.failures.append((occurrence.member, f"{label} skipped: {exc}"))
                continue
            data = self._with_document(ctx, data, raw)
            del raw
            batch.append(data)
            messages += len(data.messages)
            if len(batch) >= COMMIT_EVERY or messages >= MESSAGES_PER_BATCH:
                self._record_batch(ctx, batch, result, account)
                batch, messages = [], 0
        self._record_batch(ctx, batch, result, account)
        if stream.error:
            ctx.failures.append(
                (occurrence.member, f"{stream.error}; the conversations before it were kept")
            )
            return
        with ctx.index.write():
            objects.mark_document(ctx.index, occurrence.digest, interpreter)

    @staticmethod
    def _with_document(
        ctx: InterpretContext, data: ConversationData, raw: dict[str, Any]
    ) -> ConversationData:
        """The conversation kept as an object of its own (its text is read from there)."""
        body = split.conversation_bytes(raw)
        digest = digest_bytes(body)
        for stored, size in split.keep_objects(ctx, [(digest, body)]):
            with ctx.index.write():
                objects.record_blob(ctx.index, stored, size, split.MIME, None)
        return replace(data, document=digest)

    def _record_batch(
        self,
        ctx: InterpretContext,
        batch: list[ConversationData],
        result: InterpretResult,
        account: str | None,
    ) -> None:
        """One write transaction per batch: bounded memory, and readers see progress."""
        if not batch:
            return
        with ctx.index.write():
            outcomes = conv_record.record_conversations(
                ctx.index,
                batch,
                source_id=ctx.source_id,
                account=account,
                changed_keys=result.changed_keys,
            )
            for data, outcome in zip(batch, outcomes, strict=True):
                counter = _COUNTERS.get(outcome)
                if counter is not None:
                    result.counts[counter] += 1
                    result.touch(SUBJECT, [data.id])

    def _interpret_dat_map(
        self, ctx: InterpretContext, occurrence: StoredOccurrence, result: InterpretResult
    ) -> None:
        try:
            data = load_small_json(
                _opener(ctx, occurrence),
                occurrence.size,
                max_depth=ctx.config.limits.max_json_depth,
            )
        except DocumentError as exc:
            ctx.failures.append((occurrence.member, str(exc)))
            return
        if not isinstance(data, dict):
            ctx.failures.append((occurrence.member, "the .dat name map is not a JSON object"))
            return
        origin = f"doc:{occurrence.digest}"
        with ctx.index.write():
            for dat_name, original in sorted(data.items()):
                if not isinstance(original, str) or not original:
                    continue
                is_image = original.lower().endswith((".webp", ".png", ".jpg", ".jpeg", ".gif"))
                # A .dat file carries its own id in its name, so it is never an id-less
                # image: the map gives it names and folders, not a size key.
                has_id = file_id_in_name(str(dat_name)) is not None
                for kind, key, extra in keys_for_original_name(original, size=0, is_image=is_image):
                    if kind == "size" and has_id:
                        continue
                    alias_key = "" if kind == "size" else key
                    result.changed_keys.update(
                        objects.add_alias(ctx.index, str(dat_name), kind, alias_key, extra, origin)
                    )

    def _interpret_assets_json(
        self, ctx: InterpretContext, occurrence: StoredOccurrence, result: InterpretResult
    ) -> None:
        try:
            assets = extract_assets_json(
                _opener(ctx, occurrence), max_depth=ctx.config.limits.max_json_depth
            )
        except (DocumentError, OSError) as exc:
            ctx.failures.append((occurrence.member, str(exc)))
            return
        origin = f"doc:{occurrence.digest}"
        with ctx.index.write():
            for pointer, relative in sorted(assets.items()):
                ident = pointer_id(pointer)
                if not ident:
                    continue
                name = PurePosixPath(relative).name
                result.changed_keys.update(
                    objects.add_alias(ctx.index, name, "file_id", ident, "assets_json", origin)
                )

    def _interpret_library(
        self, ctx: InterpretContext, occurrence: StoredOccurrence, result: InterpretResult
    ) -> None:
        interpreter = "library_files"
        if objects.document_seen(ctx.index, occurrence.digest, interpreter):
            return
        origin = f"doc:{occurrence.digest}"
        try:
            with ctx.index.write():
                entries = iter_json_array(
                    _opener(ctx, occurrence),
                    max_depth=ctx.config.limits.max_json_depth,
                )
                for entry in entries:
                    if not isinstance(entry, dict):
                        continue
                    thread = conv_record.record_library_entry(ctx.index, entry, origin=origin)
                    if thread:
                        result.touch(SUBJECT, [thread])
                        # The entry claims its file against text mentions elsewhere.
                        result.changed_keys.add(("file_id", str(entry["file_id"])))
                objects.mark_document(ctx.index, occurrence.digest, interpreter)
        except DocumentError as exc:
            ctx.failures.append((occurrence.member, str(exc)))

    def _interpret_manifests(
        self, ctx: InterpretContext, documents: list[StoredOccurrence]
    ) -> None:
        """What the export's own manifest says it holds (mediasyncd.ingest.completeness); a
        drop with several parts' manifests expects what any of them names."""
        manifests = [o for o in documents if _basename(o.member) == completeness.MANIFEST_NAME]
        if not manifests:
            return
        expected: list[completeness.Expected] = []
        for occurrence in manifests:
            try:
                data = load_small_json(
                    _opener(ctx, occurrence),
                    occurrence.size,
                    limit=64 << 20,
                    max_depth=ctx.config.limits.max_json_depth,
                )
            except DocumentError as exc:
                ctx.failures.append((occurrence.member, str(exc)))
                continue
            expected.extend(completeness.expected_files(data))
        with ctx.index.write():
            completeness.record_expected(ctx.index, ctx.source_id, expected)


def _opener(ctx: InterpretContext, occurrence: StoredOccurrence) -> Opener:
    """Opens the stored document afresh (readers stream it from the store)."""
    return lambda: ctx.store.open(occurrence.digest)


def _conversation_label(raw: object, position: int) -> str:
    if isinstance(raw, OversizedConversation):
        return f"conversation #{position + 1}"
    if isinstance(raw, dict):
        ident = raw.get("conversation_id") or raw.get("id")
        if ident is not None:
            return f"conversation {ident!s} (#{position + 1})"
    return f"conversation #{position + 1}"


class ChatGPTExportHandler(_ChatGPTBase):
    kind = "chatgpt_export"

    def detect(self, probe: SourceProbe) -> int:
        names = {_basename(p) for p in probe.paths}
        if any(_CONVERSATION_DOC.match(n) for n in names):
            return 90
        if names & {
            "conversation_asset_file_names.json",
            "library_files.json",
            "export_manifest.json",
        }:
            return 85
        if any(n.lower().startswith("conversations__") and "part" in n.lower() for n in names):
            return 85
        if "chat.html" in names and any(file_id_in_name(n) for n in names):
            return 70
        return 0


class PrivacyArchiveHandler(_ChatGPTBase):
    kind = "privacy_archive"

    def detect(self, probe: SourceProbe) -> int:
        score = 0
        for path in probe.paths:
            name = _basename(path)
            if path.startswith("User Online Activity/") or "/User Online Activity/" in path:
                score = max(score, 80)
            if name.lower().startswith("dall-e__") and name.lower().endswith(".zip"):
                return 95
            if re.match(r"^(Files|Conversations)__user-.*\.zip$", name, re.IGNORECASE):
                score = max(score, 92)
            if path.startswith("personal/") and ("/dallelabs/" in path or "/files/" in path):
                score = max(score, 75)
        return score
