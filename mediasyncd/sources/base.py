"""The source-handler interface: what each kind of drop must tell the ingest pipeline.

The pipeline (mediasyncd.ingest) does the generic work for every kind: walk the members
safely, stream each into the store, record occurrences and failures. A handler adds what
is specific to its kind:

- `detect(probe)`: how sure it is that this drop is its kind (by content, not name alone);
- `expand(path)`: which nested zips to read into (a privacy archive's inner zips, yes; a
  zip the user once uploaded to a chat, no);
- `role(member)`: `media`, `document` (JSON and maps the handler interprets later) or
  `other`, or None to skip a member silently;
- `keys(member, stored)`: the lookup keys this file can satisfy (file ids, conversation-id
  folders, ...), from its path;
- `interpret(ctx)`: once every member is durable, parse the documents (streaming, from the
  store) and record conversations, references, traces; return what it touched so only
  those are rematched.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mediasyncd.config import Config
from mediasyncd.sources.container import Member
from mediasyncd.store import PutResult, Store

if TYPE_CHECKING:
    from mediasyncd.index import Index

Role = Literal["media", "document", "other"]


@dataclass(frozen=True)
class OccurrenceKey:
    """A key a stored file can satisfy: e.g. ('file_id', 'file-abc'), ('conversation_dir', id)."""

    key_kind: str
    key: str
    extra: str | None = None


@dataclass(frozen=True)
class SourceProbe:
    """What detection may look at: member paths (nested zips not opened) and small heads."""

    source: Path
    is_dir: bool
    paths: list[str]
    read_head: Callable[[str, int], bytes]


@dataclass(frozen=True)
class StoredOccurrence:
    occurrence_id: int
    member: str
    digest: str
    role: Role
    mime: str
    size: int


@dataclass
class InterpretContext:
    index: Index
    store: Store
    config: Config
    source_id: int
    source: Path
    occurrences: list[StoredOccurrence]
    # (member, message) problems found while interpreting: what could not be read or used
    # (the source ends partial); recorded, never fatal to the source.
    failures: list[tuple[str | None, str]] = field(default_factory=list)
    # (member, message) notes: read and stored, but worth saying (a photo linked to no
    # user, one with no usable time); recorded and reported, the source stays ok.
    notes: list[tuple[str | None, str]] = field(default_factory=list)


@dataclass
class InterpretResult:
    """What interpreting a drop's documents changed, counted by its kind."""

    # The kind's `ingest --json` counters (mediasyncd.kinds: e.g. conversations_new).
    counts: Counter[str] = field(default_factory=Counter)
    # Subject -> ids whose own data changed (not just their files): rematched after.
    touched: dict[str, set[str]] = field(default_factory=dict)
    # Keys that interpreting added to files (e.g. from a name map): their subjects rematch.
    changed_keys: set[tuple[str, str]] = field(default_factory=set)

    def touch(self, subject: str, ids: Iterable[str]) -> None:
        self.touched.setdefault(subject, set()).update(ids)

    def merge(self, other: InterpretResult) -> None:
        self.counts.update(other.counts)
        for subject, ids in other.touched.items():
            self.touch(subject, ids)
        self.changed_keys |= other.changed_keys


class SourceHandler(abc.ABC):
    kind: str = "abstract"
    # The configuration in force, set before `detect` (layouts such as the image-dump
    # prefix are settings); None when a handler is used outside an ingest.
    config: Config | None = None

    @abc.abstractmethod
    def detect(self, probe: SourceProbe) -> int:
        """0 (not mine) to 100 (certainly mine)."""

    def expand(self, path: str) -> bool:
        return False

    def role(self, member: Member) -> Role | None:
        return "media"

    def want_sha256(self, member: Member) -> bool:
        return False

    def keys(self, member: Member, stored: PutResult) -> Iterable[OccurrenceKey]:
        return ()

    def interpret(self, ctx: InterpretContext) -> InterpretResult:
        return InterpretResult()
