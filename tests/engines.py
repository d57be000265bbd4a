"""Running tests on both index engines.

    pytestmark = BOTH                       # every test of the module, on each engine
    @pytest.mark.engines("sqlite")          # one test, on SQLite only (its subject is SQLite's)

Each test then runs once per engine: on SQLite in its state dir, and on a fresh database
of the test PostgreSQL server (tests/pgserver.py). The Apps the test builds (`app`,
`make_app`) use that engine, and so does every `mediasyncd` the test runs, in this process
or in a child: MEDIASYNCD_CONFIG names a config file whose `[index] url` is the database
(a test that writes a config of its own adds `config_text(index_url)` to it).
"""

from __future__ import annotations

from typing import Final

import pytest

ENGINES: Final = ("sqlite", "postgresql")
BOTH: Final = [pytest.mark.engines(*ENGINES), pytest.mark.usefixtures("index_url")]


def config_text(url: str) -> str:
    """The config lines that put the index at `url` ('' for SQLite: none)."""
    return f'[index]\nurl = "{url}"\n' if url else ""
