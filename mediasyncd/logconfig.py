"""One structlog setup for the whole program.

Not on a TTY (under systemd): one JSON object per line, which journald keeps as is.
On a TTY: structlog's console renderer. The daemon logs to stdout; CLI commands log to
stderr so their stdout stays clean for `--json` and CSV output.

Modules take their logger from `get_logger`, not from structlog: importing structlog
costs 70-100 ms (it imports rich and asyncio), which a CLI command that logs nothing
(the default without -v) should not pay on every run. The logger resolves on use: to
structlog's once logging is on, to a logger that drops everything once it is off.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    # CLI commands without -v, which print their problems themselves (mediasyncd logs
    # nothing at critical; structlog's filtering loggers stop there).
    "off": logging.CRITICAL,
}

# Set by configure_logging("off"): every logger drops its events and structlog is never
# imported. Any other level clears it.
_silenced = False


class _DroppingLogger:
    """What a logger is while logging is off: binds to itself, logs nothing."""

    def bind(self, **_fields: Any) -> _DroppingLogger:
        return self

    new = unbind = try_unbind = bind

    def _drop(self, *_args: Any, **_fields: Any) -> None:
        return None

    debug = info = warning = warn = error = exception = critical = msg = _drop


_DROPPING = _DroppingLogger()


class _Logger:
    """A named logger that picks its implementation at each call, so a module-level
    logger follows whatever setup comes later (and tests' resets)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if _silenced:
            return getattr(_DROPPING, attribute)
        import structlog

        return getattr(structlog.get_logger(self._name), attribute)


def get_logger(name: str) -> Any:
    return _Logger(name)


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    global _silenced
    _silenced = level == "off"
    if _silenced:
        return
    import structlog

    stream = stream or sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def reset_logging() -> None:
    """Back to structlog's defaults, logging on (tests start each case from here)."""
    global _silenced
    _silenced = False
    import structlog

    structlog.reset_defaults()
