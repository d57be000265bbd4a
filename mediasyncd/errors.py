"""Typed errors that carry the data a person needs to act on them.

The CLI words these for people; structlog logs their fields. Every error that can reach
the user derives from `MediasyncdError`, so "no traceback reaches the user" is one
`except` clause in the CLI and one in the daemon. `exit_code` is what the CLI exits
with: 2 for a usage or configuration error, 1 when the work itself failed.
"""

from __future__ import annotations

from pathlib import Path


class MediasyncdError(Exception):
    """Base of every error mediasyncd raises on purpose."""

    exit_code = 2


class ConfigError(MediasyncdError):
    """The configuration file is missing, unreadable or has a bad key or value."""

    def __init__(self, message: str, *, path: Path | None = None, key: str | None = None):
        self.path = path
        self.key = key
        where = f"{path}: " if path else ""
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")


class StoreError(MediasyncdError):
    """The object store could not write or read an object."""

    exit_code = 1

    def __init__(self, message: str, *, digest: str | None = None, path: Path | None = None):
        self.digest = digest
        self.path = path
        super().__init__(message)


class CollisionError(StoreError):
    """Two different byte streams produced the same digest (or a stored object is damaged)."""


class SourceError(MediasyncdError):
    """A dropped file or folder (or one member of it) could not be read.

    `source` is the dropped path, `member` the path inside it (None when the whole source
    is at fault). The message always names both so the user knows what to re-drop.
    """

    exit_code = 1

    def __init__(self, message: str, *, source: Path | str, member: str | None = None):
        self.source = str(source)
        self.member = member
        self.reason = message
        where = f"{self.source}" + (f" [{member}]" if member else "")
        super().__init__(f"{where}: {message}")


class MemberRejected(SourceError):
    """One member is unsafe or over a limit: it is skipped and recorded, the rest goes on."""


class FileChangedError(SourceError):
    """The file changed while it was being hashed; the attempt is abandoned and retried."""


class IngestInterrupted(SourceError):
    """A shutdown stopped the ingest of this source; it stays pending and resumes."""


class IndexDatabaseError(MediasyncdError):
    """The index database could not be opened or migrated."""

    exit_code = 1
