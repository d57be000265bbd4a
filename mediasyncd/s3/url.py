"""`s3://BUCKET/PREFIX` URLs: parsed and checked without importing boto3."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

SCHEME: Final = "s3://"
# S3's rules for bucket names (3 to 63 lower-case letters, digits, dots and hyphens,
# starting and ending with a letter or digit).
_BUCKET: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Url:
    bucket: str
    # The key prefix without its trailing slash ("" for the whole bucket).
    prefix: str

    @property
    def key_prefix(self) -> str:
        """What every key under this URL starts with ("" or "prefix/")."""
        return f"{self.prefix}/" if self.prefix else ""

    def key_url(self, key: str) -> str:
        return f"{SCHEME}{self.bucket}/{key}"

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key_prefix}"


def is_s3_url(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_s3_url(text: str) -> S3Url:
    """The bucket and prefix of `s3://BUCKET/PREFIX` (ValueError saying what is wrong)."""
    if not is_s3_url(text):
        raise ValueError(f"not an s3:// URL: {text!r}")
    bucket, _, prefix = text[len(SCHEME) :].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            f"{text!r}: {bucket!r} is not a valid bucket name (3 to 63 lower-case letters, "
            "digits, dots and hyphens)"
        )
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValueError(f"{text!r}: the prefix may not hold empty, '.' or '..' parts")
    return S3Url(bucket, prefix)
