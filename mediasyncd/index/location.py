"""Where the index lives: `[index] url` read into a location, without importing a driver.

- empty: SQLite at `<state_dir>/index.db` (the default; nothing to set up);
- `postgresql://USER@HOST:PORT/DB` (or `postgres://`, or `postgresql:///DB` for the local
  socket): the PostgreSQL engine (mediasyncd.index.postgres), shared by every worker.

Credentials never come from the config file: libpq reads them from its own places
(`PGPASSWORD`, `~/.pgpass`, `PGSERVICE` and `pg_service.conf`, client certificates). A URL
with a password in it is refused: the config file is often readable by more people than
the database password should be, and it ends up in backups and bug reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
# Query parameters that carry a secret; the config file must not hold one.
SECRET_PARAMETERS: Final = ("password", "sslpassword")


class LocationError(ValueError):
    """`[index] url` cannot be used as written (the message says why)."""


@dataclass(frozen=True)
class IndexLocation:
    """`url` empty: SQLite in the state dir; else the PostgreSQL conninfo URL."""

    url: str = ""

    @property
    def is_postgres(self) -> bool:
        return bool(self.url)

    def describe(self) -> str:
        """The URL for messages (it holds no password: those are refused)."""
        return self.url or "SQLite in the state dir"


def parse_location(url: str) -> IndexLocation:
    """Check `[index] url`; raises LocationError with a sentence a person can act on."""
    text = url.strip()
    if not text:
        return IndexLocation()
    try:
        parts = urlsplit(text)
        # Reading .port checks it is a number in range.
        _ = parts.port
    except ValueError as exc:
        raise LocationError(f"not a valid URL: {exc}") from None
    if parts.scheme not in POSTGRES_SCHEMES:
        raise LocationError(
            f"unknown scheme {parts.scheme + ':' if parts.scheme else '(none)'}; use "
            "postgresql://USER@HOST:PORT/DB, or leave it empty for SQLite in the state dir"
        )
    if parts.password is not None:
        raise LocationError(
            "holds a password; keep it out of the config file and give it to libpq instead "
            "(PGPASSWORD, ~/.pgpass or a PGSERVICE entry): postgresql://USER@HOST:PORT/DB"
        )
    query = {unquote(item.split("=", 1)[0]).lower() for item in parts.query.split("&") if item}
    secret = next((name for name in SECRET_PARAMETERS if name in query), None)
    if secret is not None:
        raise LocationError(
            f"holds a {secret} parameter; keep it out of the config file and give it to "
            "libpq instead (PGPASSWORD, ~/.pgpass or a PGSERVICE entry)"
        )
    if parts.fragment:
        raise LocationError("must not have a #fragment")
    return IndexLocation(text)
