"""Time helpers shared by readers and reports: everything is compared in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$")


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
