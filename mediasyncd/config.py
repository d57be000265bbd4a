"""Configuration: where it is read from, what it may contain, and where state lives.

Resolution follows the contract (docs/architecture.md, "Contract"):
config file: `--config`, else `MEDIASYNCD_CONFIG`, else `$XDG_CONFIG_HOME/mediasyncd/config.toml`,
else `/etc/mediasyncd/config.toml`, else built-in defaults;
state dir: `--state-dir`, else `MEDIASYNCD_STATE_DIR`, else the config's `state_dir`, else
`$XDG_STATE_HOME/mediasyncd` (systemd's `$STATE_DIRECTORY` counts as the system unit's choice).

Every table is a frozen dataclass; the loader checks every key against the annotations,
so an unknown key or a value of the wrong type is named in a `ConfigError`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mediasyncd.errors import ConfigError

MiB = 1024**2
GiB = 1024**3
MAX_FOLDER_DEPTH = 256


@dataclass(frozen=True)
class WatchConfig:
    folders: list[str] = field(default_factory=list)
    poll: bool = False
    poll_interval_seconds: float = 5.0
    settle_seconds: float = 10.0
    incomplete_zip_seconds: float = 300.0
    ignore: list[str] = field(
        default_factory=lambda: [
            "*.part",
            "*.crdownload",
            "*.tmp",
            ".syncthing.*",
            "~$*",
            ".*",
        ]
    )
    after_ingest: Literal["keep", "move", "delete"] = "keep"
    done_folder: str = ""
    # Prefixes of S3 buckets polled for new objects (mediasyncd.s3.watch).
    s3: list[str] = field(default_factory=list)
    s3_endpoint_url: str = ""
    s3_poll_interval_seconds: float = 300.0


@dataclass(frozen=True)
class StoreConfig:
    # "" (the local store at <state_dir>/objects) or "s3://BUCKET/PREFIX".
    url: str = ""
    endpoint_url: str = ""
    compare_bytes_on_hit: bool = False
    fsync: bool = True
    # "batch": one flush of the store's filesystem per batch of objects, before the index
    # names them; "object": each object and its folder flushed as it is written.
    durability: Literal["batch", "object"] = "batch"


@dataclass(frozen=True)
class LimitsConfig:
    max_member_bytes: int = 64 * GiB
    max_ratio: float = 200.0
    max_total_bytes: int = 2048 * GiB
    max_members: int = 300_000
    max_nesting_depth: int = 3
    max_conversation_nodes: int = 50_000
    max_conversation_bytes: int = 64 * MiB
    max_folder_depth: int = 64
    max_json_depth: int = 128


@dataclass(frozen=True)
class IngestConfig:
    # Conversations parsed and extracted in a helper process while this one writes
    # (mediasyncd.conversations.helper); only where there is a second core.
    helper_process: bool = True
    # Documents smaller than this are read in one process: starting the helper costs
    # about 0.1 s of the other core.
    helper_min_bytes: int = 8 * MiB


@dataclass(frozen=True)
class IndexConfig:
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    busy_timeout_ms: int = 60_000
    # Empty: SQLite at <state_dir>/index.db; else postgresql://USER@HOST:PORT/DB
    # (mediasyncd.index.location).
    url: str = ""
    # PostgreSQL: how long a worker's claim on a job lasts without a heartbeat.
    lease_seconds: float = 60.0


@dataclass(frozen=True)
class MatchingConfig:
    text_mentions: bool = True


@dataclass(frozen=True)
class ImagesConfig:
    prefix: str = "meal-images"
    user_id_position: int = 1
    # Zone of times that carry none: EXIF without OffsetTimeOriginal, file-name stamps,
    # zip entry dates.
    naive_timezone: str = "UTC"


@dataclass(frozen=True)
class TracesConfig:
    direction: Literal["before", "after", "nearest"] = "before"
    window_seconds: float = 600.0
    display_timezone: str = "UTC"


@dataclass(frozen=True)
class DaemonConfig:
    reconcile_interval_seconds: float = 3600.0
    scrub_interval_seconds: float = 3600.0
    scrub_period_days: float = 30.0
    checkpoint_interval_seconds: float = 600.0
    gc_enabled: bool = False
    gc_interval_seconds: float = 86400.0
    gc_grace_seconds: float = 86400.0


@dataclass(frozen=True)
class GcConfig:
    # "all", "latest" or a number: see mediasyncd.store.versions.
    keep_document_versions: str | int = "all"


@dataclass(frozen=True)
class ExportConfig:
    dir: str = ""
    format: Literal["html", "markdown"] = "html"
    # How media gets into an export (mediasyncd.export.media): reflinks else copies.
    media: Literal["clone", "copy", "hardlink"] = "clone"


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    progress_interval_seconds: float = 10.0


@dataclass(frozen=True)
class Config:
    state_dir: str = ""
    watch: WatchConfig = field(default_factory=WatchConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    traces: TracesConfig = field(default_factory=TracesConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    gc: GcConfig = field(default_factory=GcConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    # Where this config was read from (None: built-in defaults); not a TOML key.
    source_path: Path | None = field(default=None, compare=False)


def _check_value(value: Any, annotation: Any, key: str, path: Path | None) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"must be one of {allowed}, not {value!r}", path=path, key=key)
        return value
    if annotation == (str | int):
        if isinstance(value, str):
            return value
        return _check_value(value, int, key, path)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"must be a list, not {type(value).__name__}", path=path, key=key)
        return [_check_value(v, item_type, f"{key}[{i}]", path) for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, not {value!r}", path=path, key=key)
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"must be a whole number, not {value!r}", path=path, key=key)
        if value < 0:
            raise ConfigError(f"must not be negative, got {value}", path=path, key=key)
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"must be a number, not {value!r}", path=path, key=key)
        if value < 0:
            raise ConfigError(f"must not be negative, got {value}", path=path, key=key)
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"must be a string, not {value!r}", path=path, key=key)
        return value
    raise ConfigError(f"unsupported setting type {annotation!r}", path=path, key=key)


def _build(cls: type[Any], table: dict[str, Any], prefix: str, path: Path | None) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source_path"}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(
                f"unknown key (known keys here: {', '.join(sorted(known))})", path=path, key=dotted
            )
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
            if not isinstance(value, dict):
                raise ConfigError("must be a table", path=path, key=dotted)
            kwargs[key] = _build(annotation, value, f"{dotted}.", path)
        else:
            kwargs[key] = _check_value(value, annotation, dotted, path)
    config = cls(**kwargs)
    _validate(config, prefix, path)
    return config


def _validate(config: Any, prefix: str, path: Path | None) -> None:
    """Checks that need more than a type: ranges that would make no sense."""
    if isinstance(config, LimitsConfig):
        if config.max_ratio < 1:
            raise ConfigError("must be at least 1", path=path, key=f"{prefix}max_ratio")
        if config.max_nesting_depth > 16:
            raise ConfigError("must be 16 or less", path=path, key=f"{prefix}max_nesting_depth")
        if config.max_conversation_nodes < 1:
            raise ConfigError(
                "must be at least 1", path=path, key=f"{prefix}max_conversation_nodes"
            )
        if config.max_conversation_bytes < 1 * MiB:
            raise ConfigError(
                "must be at least 1 MiB", path=path, key=f"{prefix}max_conversation_bytes"
            )
        if not 1 <= config.max_folder_depth <= MAX_FOLDER_DEPTH:
            # watchdog walks a watched tree recursively: far deeper and its thread dies.
            raise ConfigError(
                f"must be 1 to {MAX_FOLDER_DEPTH}", path=path, key=f"{prefix}max_folder_depth"
            )
        # Below 16 no real conversation fits; above 512 the readers' own recursion (and
        # json.dumps of what they store) would come near Python's limit of 1,000 frames.
        if not 16 <= config.max_json_depth <= 512:
            raise ConfigError(
                "must be between 16 and 512", path=path, key=f"{prefix}max_json_depth"
            )
    if isinstance(config, TracesConfig | ImagesConfig):
        from mediasyncd.timeutil import parse_timezone

        name = "display_timezone" if isinstance(config, TracesConfig) else "naive_timezone"
        try:
            parse_timezone(getattr(config, name))
        except ValueError as exc:
            raise ConfigError(str(exc), path=path, key=f"{prefix}{name}") from exc
    if isinstance(config, ImagesConfig) and config.user_id_position < 1:
        # Position 0 is the prefix folder itself: every photo would have the same "user".
        raise ConfigError(
            "must be 1 or more (0 is the prefix)", path=path, key=f"{prefix}user_id_position"
        )
    if isinstance(config, GcConfig):
        keep = config.keep_document_versions
        if keep not in ("all", "latest") and (isinstance(keep, str) or keep < 1):
            raise ConfigError(
                "must be 'all', 'latest' or a number of versions (1 or more)",
                path=path,
                key=f"{prefix}keep_document_versions",
            )
    if isinstance(config, IngestConfig) and config.helper_min_bytes < 0:
        raise ConfigError("must be 0 or more", path=path, key=f"{prefix}helper_min_bytes")
    if isinstance(config, LoggingConfig) and config.progress_interval_seconds < 0:
        raise ConfigError("must be 0 or more", path=path, key=f"{prefix}progress_interval_seconds")
    if isinstance(config, IndexConfig):
        _validate_index(config, prefix, path)
    if isinstance(config, StoreConfig | WatchConfig):
        _validate_s3_urls(config, prefix, path)
    if isinstance(config, WatchConfig) and config.after_ingest == "move" and not config.done_folder:
        raise ConfigError(
            "after_ingest = 'move' needs watch.done_folder", path=path, key=f"{prefix}done_folder"
        )


# A lease shorter than this would lapse between two heartbeats of a busy machine.
MIN_LEASE_SECONDS = 2.0


def _validate_index(config: IndexConfig, prefix: str, path: Path | None) -> None:
    from mediasyncd.index.location import LocationError, parse_location

    try:
        parse_location(config.url)
    except LocationError as exc:
        raise ConfigError(str(exc), path=path, key=f"{prefix}url") from None
    if config.lease_seconds < MIN_LEASE_SECONDS:
        raise ConfigError(
            f"must be at least {MIN_LEASE_SECONDS:g}", path=path, key=f"{prefix}lease_seconds"
        )


def _validate_s3_urls(config: StoreConfig | WatchConfig, prefix: str, path: Path | None) -> None:
    """store.url is empty or an s3:// URL; each watch.s3 entry is one."""
    from mediasyncd.s3.url import parse_s3_url

    if isinstance(config, StoreConfig):
        urls = [("url", config.url)] if config.url else []
    else:
        urls = [(f"s3[{i}]", url) for i, url in enumerate(config.s3)]
    for key, url in urls:
        try:
            parse_s3_url(url)
        except ValueError as exc:
            empty = " or empty (the local store at <state_dir>/objects)" if key == "url" else ""
            raise ConfigError(
                f"must be s3://BUCKET/PREFIX{empty}: {exc}", path=path, key=f"{prefix}{key}"
            ) from exc


def parse_config(text: str, path: Path | None = None) -> Config:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from exc
    config: Config = _build(Config, table, "", path)
    return dataclasses.replace(config, source_path=path)


def config_candidates(explicit: str | os.PathLike[str] | None) -> list[tuple[Path, bool]]:
    """Where to look for the config, in order; the bool says the file must exist."""
    if explicit:
        return [(Path(explicit), True)]
    env = os.environ.get("MEDIASYNCD_CONFIG")
    if env:
        return [(Path(env), True)]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [
        (Path(xdg) / "mediasyncd" / "config.toml", False),
        (Path("/etc/mediasyncd/config.toml"), False),
    ]


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    for candidate, required in config_candidates(explicit):
        try:
            text = candidate.read_text(encoding="utf-8")
        except FileNotFoundError:
            if required:
                raise ConfigError("config file not found", path=candidate) from None
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file: {exc}", path=candidate) from exc
        return parse_config(text, candidate)
    return Config()


def resolve_state_dir(config: Config, explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("MEDIASYNCD_STATE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    if config.state_dir:
        configured = Path(config.state_dir).expanduser()
        if not configured.is_absolute() and config.source_path is not None:
            # A relative state_dir is relative to the config file, not to wherever the
            # daemon happened to be started.
            configured = config.source_path.parent / configured
        return configured.resolve()
    # Under the system unit, systemd's StateDirectory= sets $STATE_DIRECTORY.
    systemd_state = os.environ.get("STATE_DIRECTORY")
    if systemd_state:
        return Path(systemd_state.split(":")[0]).resolve()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return (Path(xdg) / "mediasyncd").resolve()
