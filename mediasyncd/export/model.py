"""What an export is made of: plans for conversation folders and the files in them.

A plan holds everything that decides what a conversation's folder looks like except the
message texts (which are loaded only when the folder must be written), so the plans of
every conversation can be computed on each run and compared with the last run's
fingerprints cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote

from mediasyncd.errors import MediasyncdError

ExportFormat = Literal["html", "markdown"]
# What browsers (and Obsidian) show inline; HEIC, TIFF, AVI and the like are links instead.
INLINE_TYPES: Final = {
    "image": frozenset(
        {
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "image/avif",
            "image/bmp",
            "image/svg+xml",
            "image/x-icon",
        }
    ),
    "audio": frozenset(
        {
            "audio/wav",
            "audio/mpeg",
            "audio/ogg",
            "audio/flac",
            "audio/mp4",
            "audio/webm",
            "audio/aac",
        }
    ),
    "video": frozenset({"video/mp4", "video/webm", "video/ogg", "video/quicktime"}),
}
FORMATS: Final = ("html", "markdown")
PAGE_NAMES: Final = {"html": "conversation.html", "markdown": "conversation.md"}
INDEX_NAMES: Final = {"html": "index.html", "markdown": "index.md"}
TRACE_PAGE_NAMES: Final = {"html": "traces.html", "markdown": "traces.md"}
MEDIA_DIR: Final = "media"
MANIFEST_NAME: Final = "media_manifest.json"
MEDIA_INDEX_NAME: Final = "media_index.json"
USERS_DIR: Final = "users"


class ExportError(MediasyncdError):
    """The export cannot run: a bad target folder, another export running, a bad option."""

    def __init__(self, message: str, *, path: object = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str | None
    create_time: float | None
    update_time: float | None
    message_count: int
    content_hash: str
    model: str | None


@dataclass(frozen=True)
class Link:
    """One match row: why a file belongs to a message (or to the whole conversation)."""

    message_id: str | None
    strategy: str
    association: str
    confidence: float
    prompt: str | None = None
    ref_kind: str | None = None
    # The message's place in the conversation; None for a conversation-level link or a
    # message the conversation does not have (a library entry naming an unknown message).
    position: int | None = None
    # A word on how the link was made, for a caption (a trace pair's time gap).
    note: str | None = None


@dataclass
class MediaFile:
    digest: str
    name: str
    kind: str
    mime: str
    size: int
    links: list[Link] = field(default_factory=list)
    # False when the store no longer has the object (gc, damage): shown, not linked.
    available: bool = True
    # The identity of the store object file it was placed from (export.media).
    origin: str = ""

    @property
    def href(self) -> str:
        """Relative URL from the page: `media/<name>`, percent-encoded."""
        return f"{MEDIA_DIR}/{quote(self.name)}"

    @property
    def display(self) -> str:
        """'image', 'audio' or 'video' when a browser can show it inline, else 'link'."""
        return self.kind if self.mime in INLINE_TYPES.get(self.kind, ()) else "link"

    @property
    def generated(self) -> bool:
        return any(link.association == "generated" for link in self.links)

    @property
    def prompt(self) -> str | None:
        return next((link.prompt for link in self.links if link.prompt), None)

    @property
    def note(self) -> str | None:
        return next((link.note for link in self.links if link.note), None)

    @property
    def associations(self) -> list[str]:
        return sorted({link.association for link in self.links})


@dataclass(frozen=True)
class MissingRef:
    """A reference to a file that no stored file satisfies (yet)."""

    message_id: str | None
    kind: str
    key: str
    association: str
    name: str | None = None
    prompt: str | None = None
    mime_type: str | None = None
    position: int | None = None


@dataclass
class ConversationPlan:
    summary: ConversationSummary
    folder: str
    files: list[MediaFile]
    missing: list[MissingRef]
    fingerprint: str

    @property
    def id(self) -> str:
        return self.summary.id


@dataclass
class ExportSummary:
    dir: str
    format: str
    conversations: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    users_written: int = 0
    users_removed: int = 0
    files_linked: int = 0
    files_cloned: int = 0
    files_copied: int = 0
    bytes_copied: int = 0
    files_missing: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data
