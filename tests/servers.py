"""When a real server a test needs (PostgreSQL, SeaweedFS) cannot be had.

On a developer's machine without the binary the test is skipped, with the reason. In CI
(`.ci/run` exports MEDIASYNCD_REQUIRE_SERVERS=1) the servers are part of the setup, so
their absence fails the test instead of silently skipping what the suite exists to run.
"""

from __future__ import annotations

import os
from typing import Final, NoReturn

import pytest

REQUIRE_ENV: Final = "MEDIASYNCD_REQUIRE_SERVERS"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it when the servers are required."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set: the real servers must run)", pytrace=False)
    pytest.skip(reason)
