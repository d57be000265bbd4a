"""tests/servers.py: a missing server skips a test, except in CI, where it fails it."""

from __future__ import annotations

import pytest

from tests.helpers import REPO_ROOT
from tests.servers import REQUIRE_ENV, unavailable


def test_a_missing_server_skips_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no weed here"):
        unavailable("no weed here")


def test_a_missing_server_fails_when_servers_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"no weed here.*must run"):
        unavailable("no weed here")


def test_ci_requires_the_servers_and_installs_postgresql_without_a_cluster() -> None:
    """.ci/run sets the variable before the README's test command, and keeps Debian's
    package from creating a cluster before installing it."""
    script = (REPO_ROOT / ".ci" / "run").read_text()
    assert f"export {REQUIRE_ENV}=1" in script
    assert script.index(f"export {REQUIRE_ENV}=1") < script.index(".venv/bin/pytest")
    assert script.index("create_main_cluster = false") < script.index('"${missing[@]}"')
