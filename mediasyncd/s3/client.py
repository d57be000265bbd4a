"""The boto3 client, and S3's errors worded for people.

boto3 is the `scale` extra (`pip install 'mediasyncd[scale]'`): it is imported only when
an s3:// URL is configured, so the default install neither needs nor loads it.
Credentials come only from the standard AWS chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, SSO, web identity, instance and container
roles); the config file never holds them. The region comes from the same chain
(AWS_REGION, the profile), else us-east-1, which S3-compatible services accept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from mediasyncd.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

EXTRA_HINT: Final = "install the scale extra: pip install 'mediasyncd[scale]'"
DEFAULT_REGION: Final = "us-east-1"
# Codes S3 and compatible services use for "no such key / bucket".
MISSING_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


def make_client(endpoint_url: str | None, *, setting: str) -> S3Client:
    """A client for `endpoint_url` (None or "": AWS itself); `setting` names the config
    key that asked for it, for the error when boto3 is missing."""
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError as exc:
        raise ConfigError(f"{setting} is an s3:// URL, which needs boto3: {EXTRA_HINT}") from exc
    session = boto3.session.Session()
    config = BotoConfig(
        region_name=session.region_name or DEFAULT_REGION,
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        # Checksums are chosen per request (SHA-256 on every upload), not added by
        # botocore to every call.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client: S3Client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
    return client


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError ('NoSuchKey', '412', ...), else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def is_missing(exc: BaseException) -> bool:
    return error_code(exc) in MISSING_CODES or http_status(exc) == 404


def is_precondition_failed(exc: BaseException) -> bool:
    """An `If-None-Match: *` write found the key taken (409: a concurrent conditional
    write on AWS, which is retried the same way)."""
    return error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or (
        http_status(exc) in (409, 412)
    )


def describe(exc: BaseException, where: str) -> str:
    """One line for a person: where, and what S3 (or the network) said."""
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return (
            f"{where}: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, a profile with AWS_PROFILE, or use an instance role)"
        )
    code = error_code(exc)
    if code in ("403", "Forbidden"):
        # A HEAD carries no error body: say what a bare 403 means.
        return f"{where}: access denied (403): the credentials were refused or lack permission"
    if code is not None:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message") or ""
        return f"{where}: {code}" + (f": {message}" if message else "")
    return f"{where}: {exc}"


def store_error(exc: BaseException, where: str, digest: str | None = None) -> StoreError:
    return StoreError(describe(exc, where), digest=digest)
