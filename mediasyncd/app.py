"""The objects one invocation works with, built from config and state dir in one place.

The CLI and the daemon both build an `App`; tests build one on `tmp_path`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mediasyncd.config import Config, load_config, resolve_state_dir
from mediasyncd.errors import ConfigError
from mediasyncd.fs.guard import protect_folder
from mediasyncd.index import Index, open_for_reading, open_index
from mediasyncd.index.location import IndexLocation, parse_location

if TYPE_CHECKING:
    from mediasyncd.store import Store


@dataclass
class App:
    config: Config
    state_dir: Path
    _index: Index | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    @classmethod
    def load(cls, config_path: str | None = None, state_dir: str | None = None) -> App:
        config = load_config(config_path)
        return cls(config, resolve_state_dir(config, state_dir))

    def ensure_state_dir(self) -> None:
        # The state dir holds every user's archive: readable by its owner only.
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.state_dir / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            # A setting that cannot work (exit 2), unlike a disk that fills up later.
            raise ConfigError(
                f"the state dir {self.state_dir} cannot be created: {exc.strerror or exc}"
            ) from exc
        # A folder drop that holds the state dir (`ingest ~`) never walks into it.
        protect_folder(self.state_dir)

    @property
    def index_path(self) -> Path:
        return self.state_dir / "index.db"

    @property
    def location(self) -> IndexLocation:
        """Where the index lives: SQLite in the state dir, or a PostgreSQL URL."""
        return parse_location(self.config.index.url)

    def describe_index(self) -> str:
        """The index for messages: its file, or its URL."""
        location = self.location
        return location.url if location.is_postgres else str(self.index_path)

    @property
    def index(self) -> Index:
        """This invocation's connection to the index, opened (and migrated) on first use."""
        if self._index is None:
            self.ensure_state_dir()
            self._index = self.connect(migrate=True)
        return self._index

    def connect(self, *, migrate: bool = False, busy_timeout_ms: int | None = None) -> Index:
        """A connection of its own (one per thread: the daemon's worker and maintenance
        jobs each open one). The one place that chooses the index's engine."""
        location = self.location
        if location.is_postgres:
            from mediasyncd.index.postgres import open_postgres

            return open_postgres(
                location.url,
                busy_timeout_ms=busy_timeout_ms or self.config.index.busy_timeout_ms,
                migrate=migrate,
            )
        return open_index(
            self.index_path,
            synchronous=self.config.index.synchronous,
            busy_timeout_ms=busy_timeout_ms or self.config.index.busy_timeout_ms,
            migrate=migrate,
        )

    def connect_for_reading(self) -> Index:
        """A connection that only reads and creates nothing in the state dir."""
        if self.location.is_postgres:
            return self.connect()
        return open_for_reading(self.index_path, busy_timeout_ms=self.config.index.busy_timeout_ms)

    @property
    def store(self) -> Store:
        """The store, ready to take objects (temp files of dead writers removed)."""
        if self._store is None:
            self.ensure_state_dir()
            self._store = self._open_store()
            self._store.ensure()
            # Temp files of writers killed mid-put (their pid is gone) are never named by
            # the index; clearing them at startup keeps a crash from leaking disk.
            self._store.remove_stale_temp_files()
        return self._store

    def store_for_reading(self) -> Store:
        """The store for a command that only reads objects (export): it prepares and
        cleans nothing."""
        return self._open_store()

    def _open_store(self) -> Store:
        """The one place that chooses the store: `[store] url`, an S3 bucket, else the
        local store in the state dir."""
        settings = self.config.store
        if settings.url:
            from mediasyncd.store.s3 import open_s3_store

            return open_s3_store(
                settings.url,
                endpoint_url=settings.endpoint_url,
                spool_dir=self.state_dir / "tmp",
                compare_bytes_on_hit=settings.compare_bytes_on_hit,
                # An object touched stays young for half of gc's grace period at least.
                touch_after_seconds=self.config.daemon.gc_grace_seconds / 2,
            )
        # Imported here: `status` and the other reports never open the store.
        from mediasyncd.store import ObjectStore

        return ObjectStore(
            self.state_dir,
            fsync=self.config.store.fsync,
            compare_bytes_on_hit=self.config.store.compare_bytes_on_hit,
            durability=self.config.store.durability,
        )

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def default_umask() -> None:
    """Objects and the index are private to the service user."""
    os.umask(0o077)
