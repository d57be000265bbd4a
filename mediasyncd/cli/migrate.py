"""`mediasyncd migrate`: move this installation's store and index to engines built for
scale. Each part is a library function (`migrate_store` in mediasyncd.store.transfer,
`migrate_index` in mediasyncd.index.transfer); this runs the parts asked for, the store
first (the index names its objects), each resumable and verified, each leaving the local
copy untouched."""

from __future__ import annotations

from typing import Any

import click

from mediasyncd.cli.common import CliError, CliState, echo_json, pass_state
from mediasyncd.coordination import FileLocks
from mediasyncd.index.location import IndexLocation, LocationError, parse_location


@click.command("migrate")
@click.option(
    "--to-store",
    "to_store",
    metavar="URL",
    help="Copy every object of the store into this S3 bucket: s3://BUCKET/PREFIX.",
)
@click.option(
    "--endpoint-url",
    default=None,
    help="The S3-compatible service of --to-store (default: the config's store.endpoint_url).",
)
@click.option(
    "--to-index",
    "to_index",
    metavar="URL",
    help="Copy the local SQLite index into this PostgreSQL database "
    "(postgresql://USER@HOST:PORT/DB; the password comes from libpq: PGPASSWORD, ~/.pgpass).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@pass_state
def command(
    state: CliState,
    to_store: str | None,
    endpoint_url: str | None,
    to_index: str | None,
    as_json: bool,
) -> int:
    """Copy the local store to a bucket and/or the local index to a shared database.

    Every object is verified (the bytes sent hash to its name, S3 checks their SHA-256;
    one already there is read back and re-hashed); every table is verified by row count
    and checksum. Run it again after an interruption: it goes on where it stopped. The
    local copies are left as they were. Stop the daemon first. Then set `[store] url`
    (and endpoint_url) and `[index] url` in the config.

    Exit status: 0 everything asked for is in the target, verified; 1 some object could
    not be copied or is missing (the report names it).
    """
    if endpoint_url is not None and not to_store:
        raise click.UsageError("--endpoint-url goes with --to-store")
    if not to_store and not to_index:
        raise click.UsageError("say what to copy: --to-store URL and/or --to-index URL")
    location = _index_target(state, to_index) if to_index else None
    report: dict[str, Any] = {}
    ok = True
    # The state dir's locks: no daemon or ingest of this machine changes either meanwhile.
    with FileLocks(state.app.state_dir).sole_writer("migrate"):
        if to_store:
            report["store"], ok = _migrate_store(state, to_store, endpoint_url, as_json)
        if location is not None and ok:
            report["index"] = _migrate_index(state, location.url, as_json)
    if as_json:
        echo_json(report)
    return 0 if ok else 1


def _index_target(state: CliState, to_index: str) -> IndexLocation:
    try:
        location = parse_location(to_index)
    except LocationError as exc:
        raise click.BadParameter(str(exc), param_hint="--to-index") from None
    if not location.is_postgres:
        raise click.BadParameter("needs a postgresql:// URL", param_hint="--to-index")
    if state.app.location.is_postgres:
        raise CliError(f"the index in use is already {state.app.location.url}; nothing to copy")
    return location


def _migrate_store(
    state: CliState, to_store: str, endpoint_url: str | None, quiet: bool
) -> tuple[dict[str, Any], bool]:
    from mediasyncd.store.s3 import open_s3_store
    from mediasyncd.store.transfer import migrate_store, store_root

    app = state.app
    target = open_s3_store(
        to_store,
        endpoint_url=app.config.store.endpoint_url if endpoint_url is None else endpoint_url,
        spool_dir=app.state_dir / "tmp",
    )
    source = app.store
    if store_root(source) == store_root(target):
        raise CliError(f"{to_store} is the configured store already: nothing to copy")
    target.ensure()
    # The index is only read (which objects it names): the local copy stays as it was.
    index = app.connect_for_reading()
    try:
        report = migrate_store(source, target, index=index, state_dir=app.state_dir)
    finally:
        index.close()
    if not quiet:
        resumed = f" (resumed after {report.resumed_after})" if report.resumed_after else ""
        click.echo(
            f"{report.total} objects{resumed}: {report.copied} copied ({report.bytes_copied} "
            f"bytes), {report.already_there} verified in {report.target} already"
        )
        for problem in report.problems:
            click.echo(f"{problem['object']}: {problem['problem']}", err=True)
        if report.ok:
            click.echo(f'done: set [store] url = "{to_store}" in the config to use it')
        else:
            click.echo(
                f"{report.problem_count} problems: run it again, or `mediasyncd verify`",
                err=True,
            )
    return report.to_json(), report.ok


def _migrate_index(state: CliState, url: str, quiet: bool) -> dict[str, object]:
    from mediasyncd.index.transfer import migrate_index

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
