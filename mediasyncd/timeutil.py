"""Time helpers shared by readers, reports and commands: everything is compared in UTC,
and every time a person types (`--since`, `--from`, `--to`) is read by the one parser
here."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$")
# A span back from now: `90s`, `30m`, `12h`, `7d`, `2w`, `1.5h` (any case, spaces allowed).
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_timezone(name: str) -> tzinfo:
    """'UTC', an IANA name ('Asia/Bangkok') or a fixed offset ('+07:00', 'UTC+7')."""
    if name.upper() in {"UTC", "Z"}:
        return UTC
    match = _OFFSET.match(name.strip())
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > timedelta(hours=14):
            raise ValueError(f"offset out of range: {name!r}")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def epoch_to_iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def parse_moment(text: str, zone: tzinfo) -> float:
    """A date or date-time (ISO 8601, `Z` allowed) as epoch seconds; one without a zone
    is read in `zone`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"not a date or time like 2025-01-31 or 2025-01-31T16:30: {text!r}"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def parse_since(text: str, *, zone: tzinfo = UTC, now: datetime | None = None) -> float:
    """Where a `--since` starts, as epoch seconds: a span back from now (`90s`, `30m`,
    `12h`, `7d`, `2w`, `1.5h`), or a date or date-time as `parse_moment` reads it."""
    span = _SPAN.match(text)
    if span:
        seconds = float(span.group(1)) * _SPAN_SECONDS[span.group(2).lower()]
        return ((now or datetime.now(UTC)) - timedelta(seconds=seconds)).timestamp()
    try:
        return parse_moment(text, zone)
    except ValueError:
        raise ValueError(
            "not a duration back from now (90s, 30m, 12h, 7d, 2w) nor a date or time "
            f"(2025-01-31, 2025-01-31T16:30): {text!r}"
        ) from None
