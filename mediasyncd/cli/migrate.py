"""`mediasyncd migrate`: move this installation's index (and store) to engines built for
scale. Each part is a library function (mediasyncd.migrate); this runs the parts asked
for, in order, each resumable and verified."""

from __future__ import annotations

import click

from mediasyncd.cli.common import CliError, CliState, echo_json, pass_state
from mediasyncd.coordination import FileLocks
from mediasyncd.index.location import LocationError, parse_location


@click.command("migrate")
@click.option(
    "--to-index",
    "to_index",
    metavar="URL",
    help="Copy the local SQLite index into this PostgreSQL database "
    "(postgresql://USER@HOST:PORT/DB; the password comes from libpq: PGPASSWORD, ~/.pgpass).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@pass_state
def command(state: CliState, to_index: str | None, as_json: bool) -> int:
    """Copy the local index to a shared one. Run it again after an interruption: it goes on
    where it stopped. Every table is verified (row count and checksum); the local copy is
    left as it was. Stop the daemon first. Then set `[index] url` in the config."""
    if not to_index:
        raise click.UsageError("say what to copy: --to-index URL")
    try:
        location = parse_location(to_index)
    except LocationError as exc:
        raise click.BadParameter(str(exc), param_hint="--to-index") from None
    if not location.is_postgres:
        raise click.BadParameter("needs a postgresql:// URL", param_hint="--to-index")
    app = state.app
    if app.location.is_postgres:
        raise CliError(f"the index in use is already {app.location.url}; nothing to copy")
    report: dict[str, object] = {}
    # The state dir's SQLite locks: no daemon or ingest changes the index meanwhile.
    with FileLocks(app.state_dir).sole_writer():
        report["index"] = _migrate_index(state, location.url, as_json)
    if as_json:
        echo_json(report)
    return 0


def _migrate_index(state: CliState, url: str, quiet: bool) -> dict[str, object]:
    from mediasyncd.migrate.index import migrate_index

    app = state.app

    def said(table: str, rows: int) -> None:
        if not quiet:
            click.echo(f"{table:16} {rows} rows copied and verified")

    result = migrate_index(
        app.index_path, url, busy_timeout_ms=app.config.index.busy_timeout_ms, on_table=said
    )
    if not quiet:
        verb = "was already copied and verified" if result.already_done else "copied and verified"
        click.echo(
            f"{app.index_path}: {result.rows} rows {verb} into {url}; the local index is "
            "unchanged. To use the shared index, set in the config:\n"
            f'[index]\nurl = "{url}"'
        )
    return result.to_json()
