"""One export run's shared state, and placing media the way this run does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from mediasyncd.config import Config
from mediasyncd.export import html as html_pages
from mediasyncd.export import markdown as md_pages
from mediasyncd.export.media import MediaMode, MediaStats, place_media
from mediasyncd.export.model import MEDIA_DIR, ExportSummary, MediaFile
from mediasyncd.export.state import ExportState
from mediasyncd.index import Index, objects
from mediasyncd.store import Store

# Bump when the code (not the templates: they are hashed) changes what a page shows.
RENDER_VERSION: Final = "1"


class ExportRun:
    """One export run: what every part of it shares (the index snapshot, the store,
    the last run's state, the summary) and how it places media."""

    def __init__(
        self,
        index: Index,
        store: Store,
        config: Config,
        out_dir: Path,
        fmt: str,
        state: ExportState,
        summary: ExportSummary,
        media_mode: MediaMode,
    ):
        self.index = index
        self.store = store
        self.config = config
        self.out_dir = out_dir
        self.fmt = fmt
        self.state = state
        self.summary = summary
        self.media_mode = media_mode
        self.salt = f"{RENDER_VERSION}:{html_pages.template_fingerprint()}:{fmt}"
        self.changed = state.format != fmt
        self.media = MediaStats()
        self.assigned: set[str] = set()
        # Objects repaired since they were stored (few): their files are placed again.
        self.repairs = objects.repaired_blobs(index)

    @property
    def renderer(self) -> Any:
        """The page renderer of this run's format (html or markdown)."""
        return html_pages if self.fmt == "html" else md_pages

    def origin(self, digest: str) -> str:
        """Which version of an object an export file comes from: its repair count."""
        return str(self.repairs.get(digest, 0))

    def media_current(self, entry: dict[str, Any]) -> bool:
        """Whether every file the last run placed comes from the current version of its
        object, placed the same way. A repaired object (quarantined by verify, then
        re-dropped) has a new version: its conversation is written again, so no export
        keeps the damaged bytes, nor a hard link to the damaged inode."""
        if entry.get("media_mode") != self.media_mode:
            return False
        return all(
            origin == self.origin(digest) for digest, (_d, origin) in _by_digest(entry).items()
        )

    def place(
        self, folder: Path, files: list[MediaFile], previous: dict[str, tuple[str, str]]
    ) -> None:
        """Put `files` into `folder`'s media folder, each from its object's current
        version; `previous` is what the last run placed there."""
        for media in files:
            media.origin = self.origin(media.digest)
        stats = place_media(self.store, folder / MEDIA_DIR, files, previous, mode=self.media_mode)
        self.media.add(stats)


def files_state(files: list[MediaFile]) -> list[list[Any]]:
    """The placed files as the export state keeps them."""
    return [[f.digest, f.name, f.kind, f.mime, f.size, f.origin] for f in files]


def _by_digest(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """digest -> (name, origin) of the files the last run placed."""
    return {digest: (name, origin) for name, (digest, origin) in placed(entry).items()}


def placed(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (digest, object identity) of the files the last run placed."""
    placed: dict[str, tuple[str, str]] = {}
    for row in entry.get("files", []):
        origin = str(row[5]) if len(row) > 5 else ""
        placed[str(row[1])] = (str(row[0]), origin)
    return placed
