"""When a dumped photo was uploaded (or taken), from the clocks it carries.

In order of trust (docs/formats.md, section 8): the S3 listing's `LastModified` (upload time, UTC,
whole seconds); EXIF `DateTimeOriginal` with `OffsetTimeOriginal` (capture time with its
zone); a timestamp in the file name; EXIF `DateTimeOriginal` without an offset; the file
mtime (for zip members, the entry date). Times without a zone are read in the configured
`images.naive_timezone`. Every function returns an aware UTC datetime or None.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import BinaryIO, Final

# Plausible photo times; anything else is a mis-parse (a random number in a name).
EARLIEST: Final = datetime(1995, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)

# Names like IMG_20250131_163000, 2025-01-31 16.30.00, 20250131T163000Z, 2025-01-31T16:30:00+07:00.
_STAMP: Final = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d\d)[-_.]?(?P<mo>[01]\d)[-_.]?(?P<d>[0-3]\d)"
    r"[-_.T ]?(?P<h>[0-2]\d)[-_.:h]?(?P<mi>[0-5]\d)[-_.:m]?(?P<s>[0-5]\d)"
    r"(?:[.,](?P<frac>\d{1,6}))?(?P<tz>Z|[+-][01]\d:?[0-5]\d)?(?!\d)"
)
# Epoch seconds (10 digits) or milliseconds (13 digits) standing alone in a name.
_EPOCH: Final = re.compile(r"(?<![\dA-Za-z])(1\d{9}|1\d{12})(?![\dA-Za-z])")


def _plausible(moment: datetime) -> datetime | None:
    return moment if EARLIEST <= moment < LATEST else None


def parse_listing_time(value: object) -> datetime | None:
    """`LastModified` as the AWS CLI writes it ('2025-01-31T09:30:00+00:00' or '...Z')."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # S3 times are UTC
    return _plausible(parsed.astimezone(UTC))


def _offset(text: str) -> tzinfo | None:
    match = re.fullmatch(r"\s*([+-])(\d\d):?(\d\d)\s*", text)
    if not match:
        return UTC if text.strip() == "Z" else None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14):
        return None
    return timezone(-delta if sign == "-" else delta)


def exif_times(stream: BinaryIO, naive_zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    """(time with its own offset, time read in naive_zone) from EXIF DateTimeOriginal.

    At most one is set. Pillow reads only the header; damaged or absent EXIF gives
    (None, None): a photo without EXIF is normal, not an error.
    """
    # Imported here: Pillow costs about 30 ms of the start of every command that reads
    # no photo's EXIF (the ingest of an export or a privacy archive).
    from PIL import ExifTags, Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Corrupt EXIF and huge dimensions only warn; neither matters for a date.
            warnings.simplefilter("ignore")
            with Image.open(stream) as image:
                exif = image.getexif().get_ifd(ExifTags.IFD.Exif)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, KeyError, TypeError):
        return None, None
    original = exif.get(ExifTags.Base.DateTimeOriginal)
    if not isinstance(original, str):
        return None, None
    try:
        wall = datetime.strptime(original.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, None
    offset = exif.get(ExifTags.Base.OffsetTimeOriginal)
    zone = _offset(offset.rstrip("\x00")) if isinstance(offset, str) else None
    if zone is not None:
        return _plausible(wall.replace(tzinfo=zone).astimezone(UTC)), None
    return None, _plausible(wall.replace(tzinfo=naive_zone).astimezone(UTC))


def filename_time(name: str, naive_zone: tzinfo) -> datetime | None:
    """A timestamp written in a file name (the last one, when there are several)."""
    stem = name.rsplit("/", 1)[-1]
    found: datetime | None = None
    for match in _STAMP.finditer(stem):
        try:
            fraction = (match["frac"] or "0").ljust(6, "0")
            wall = datetime(
                int(match["y"]),
                int(match["mo"]),
                int(match["d"]),
                int(match["h"]),
                int(match["mi"]),
                int(match["s"]),
                int(fraction),
            )
        except ValueError:
            continue
        zone = _offset(match["tz"]) if match["tz"] else naive_zone
        found = _plausible(wall.replace(tzinfo=zone or naive_zone).astimezone(UTC)) or found
    if found is not None:
        return found
    for match in _EPOCH.finditer(stem):
        digits = match.group(1)
        seconds = int(digits) / (1000 if len(digits) == 13 else 1)
        found = _plausible(datetime.fromtimestamp(seconds, UTC)) or found
    return found


def mtime_time(mtime_ns: int, *, from_zip: bool, naive_zone: tzinfo) -> datetime | None:
    """A file's mtime; a zip entry's date is wall-clock time and is read in naive_zone."""
    try:
        moment = datetime.fromtimestamp(mtime_ns / 1e9, UTC)
    except (ValueError, OverflowError, OSError):
        return None  # beyond year 9999 (found by fuzzing; a btrfs file can carry one)
    if from_zip:
        moment = moment.replace(tzinfo=naive_zone).astimezone(UTC)
    return _plausible(moment)
