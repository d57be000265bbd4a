"""The one time parser (`--since`, `--from`, `--to`) and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mediasyncd.timeutil import parse_moment, parse_since, parse_timezone

NOW = datetime(2025, 2, 8, tzinfo=UTC)
PLUS7 = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("1.5h", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        (" 2W ", timedelta(weeks=2)),
        ("3 d", timedelta(days=3)),
    ],
)
def test_spans_count_back_from_now(text: str, back: timedelta) -> None:
    """Every unit from seconds to weeks, whole or decimal, any case, spaces allowed:
    what `export --since` took and what `matches --since` took, together."""
    assert parse_since(text, now=NOW) == (NOW - back).timestamp()


def test_dates_and_times_are_read_in_the_zone_given_unless_they_name_one() -> None:
    """`--since 2025-02-01` reads like `--from 2025-02-01`: in the zone given (the display
    zone for `matches`, UTC for `export`), unless the text names its own."""
    assert (
        parse_since("2025-02-01", zone=PLUS7) == datetime(2025, 1, 31, 17, tzinfo=UTC).timestamp()
    )
    assert parse_since("2025-02-01") == datetime(2025, 2, 1, tzinfo=UTC).timestamp()
    assert parse_since("2025-02-01T00:00:00Z", zone=PLUS7) == NOW.replace(day=1).timestamp()
    assert parse_since("2025-02-01T09:00+02:00") == datetime(2025, 2, 1, 7, tzinfo=UTC).timestamp()
    assert parse_moment("2025-02-01", PLUS7) == parse_since("2025-02-01", zone=PLUS7)


def test_anything_else_is_refused_in_words() -> None:
    """Neither a span nor a date: a ValueError saying what would do."""
    with pytest.raises(ValueError, match=r"duration .*date .*'7 days'"):
        parse_since("7 days")
    with pytest.raises(ValueError, match="date"):
        parse_moment("next week", UTC)


def test_time_zones_by_name_and_offset() -> None:
    assert parse_timezone("UTC") is UTC
    assert parse_timezone("+07:00") == PLUS7
    assert parse_timezone("UTC+7") == PLUS7
    with pytest.raises(ValueError, match="unknown"):
        parse_timezone("Mars/Olympus")
