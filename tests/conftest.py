"""Shared fixtures: an isolated environment, a state dir and App on tmp_path, an ingest
shortcut and a CLI runner.

Every test runs with MEDIASYNCD_* unset and HOME / XDG_* pointing at a private folder
outside tmp_path, so no test reads the real user's config or writes to their state dir,
and `tree_snapshot(tmp_path, exclude=[state_dir])` sees only what the test itself made.
Builders for files and zips are in tests/helpers.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from mediasyncd.app import App
from mediasyncd.config import Config, LimitsConfig
from mediasyncd.index import Index
from mediasyncd.ingest.pipeline import Ingester, IngestSummary
from mediasyncd.logconfig import reset_logging
from tests import engines, pgserver
from tests.pgserver import PostgresServer
from tests.servers import unavailable

# The real S3 server (SeaweedFS) and its fixtures: seaweed, s3_env, s3_bucket.
pytest_plugins = ["tests.seaweed"]

# Hypothesis in the default run: derandomized (the examples follow from each test
# alone), no example database carried between runs, no deadline or speed health check a
# loaded machine could trip. So a run cannot fail by luck; a failure found this way is
# added to its test as an @example. `--hypothesis-profile=explore` draws random examples.
settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=2000)
settings.load_profile("deterministic")

_ENV_CLEARED = (
    "MEDIASYNCD_CONFIG",
    "MEDIASYNCD_STATE_DIR",
    "MEDIASYNCD_FAULT",
    "STATE_DIRECTORY",
)


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """No test sees the real config, state dir or fault injection; logging starts fresh."""
    home = tmp_path_factory.mktemp("home")
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    reset_logging()
    yield home
    # The CLI configures structlog with the stream it had; later tests must not log into
    # a closed capture buffer.
    reset_logging()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Where this test's store and index live (created on first use)."""
    return tmp_path / "state"


def config_with(config: Config | None = None, **limits: Any) -> Config:
    """A Config with some [limits] changed, e.g. config_with(max_member_bytes=1000)."""
    base = config or Config()
    return dataclasses.replace(base, limits=dataclasses.replace(base.limits, **limits))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `engines(...)` runs once per engine named (tests/engines.py)."""
    marker = metafunc.definition.get_closest_marker("engines")
    if marker is not None and "index_url" in metafunc.fixturenames:
        metafunc.parametrize("index_url", marker.args or engines.ENGINES, indirect=True)


@pytest.fixture
def index_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The `[index] url` of this test's Apps and CLI runs: SQLite in the state dir ('')
    unless the test is marked to run on PostgreSQL too (tests/engines.py)."""
    engine = getattr(request, "param", "sqlite")
    if engine == "sqlite":
        return ""
    url: str = request.getfixturevalue("pg_url")
    config = tmp_path / "engine.toml"
    config.write_text(engines.config_text(url))
    monkeypatch.setenv("MEDIASYNCD_CONFIG", str(config))
    return url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run (tests/pgserver.py), or a skip saying
    why there cannot be one."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install '.[scale]')")
    why = pgserver.ensure_installed()
    if why is not None:
        unavailable(why)
    # Not under pytest's own temp root: every pytest run (another project's too) resets
    # that folder to mode 0700, which would lock the `postgres` user out of its cluster.
    root = Path(tempfile.mkdtemp(prefix="mediasyncd-postgres-"))
    server = pgserver.start(root / "cluster")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database on the test server, dropped afterwards."""
    url = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def connect(pg_url: str) -> Iterator[Callable[..., Index]]:
    """Open PostgreSQL indexes on `pg_url` (connect(**options)), closed at teardown."""
    from mediasyncd.index.postgres import open_postgres

    opened: list[Index] = []

    def make(**options: int) -> Index:
        index = open_postgres(pg_url, **options)
        opened.append(index)
        return index

    yield make
    for index in opened:
        index.close()


@pytest.fixture
def make_app(state_dir: Path, index_url: str) -> Iterator[Callable[..., App]]:
    """Build Apps (closed at teardown): make_app(config=None, state_dir=None)."""
    apps: list[App] = []

    def build(config: Config | None = None, state: Path | None = None) -> App:
        config = config or Config()
        if index_url and not config.index.url:
            config = dataclasses.replace(
                config, index=dataclasses.replace(config.index, url=index_url)
            )
        app = App(config, state or state_dir)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    """An App with the default config on this test's state dir."""
    return make_app()


@pytest.fixture
def ingest(app: App) -> Callable[..., IngestSummary]:
    """ingest(*paths, config=None, retry_failed=True) with this test's App."""

    def run(*paths: Path, config: Config | None = None, retry_failed: bool = True) -> IngestSummary:
        ingester = Ingester(app.index, app.store, config or app.config, app.state_dir)
        return ingester.ingest_paths(paths, retry_failed=retry_failed)

    return run


@pytest.fixture
def limits() -> Callable[..., LimitsConfig]:
    """limits(**changes): a LimitsConfig with some values changed."""
    return lambda **changes: dataclasses.replace(LimitsConfig(), **changes)


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def invoke_cli(argv: list[str]) -> CliResult:
    """mediasyncd.cli.main(argv) in this process, with stdout and stderr captured."""
    from mediasyncd.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    reset_logging()
    result = CliResult(code, out.getvalue(), err.getvalue())
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def run_cli(state_dir: Path, index_url: str) -> Callable[..., CliResult]:
    """run_cli("ingest", path, ...) with --state-dir set to this test's state dir
    (pass state=False to leave it out)."""

    def run(*args: str | Path, state: bool = True) -> CliResult:
        argv = [str(a) for a in args]
        if state:
            argv = ["--state-dir", str(state_dir), *argv]
        return invoke_cli(argv)

    return run


@pytest.fixture
def python_exe() -> str:
    """The interpreter that has mediasyncd installed (for child processes)."""
    return sys.executable
