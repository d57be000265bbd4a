"""`mediasyncd migrate --to-store URL`: copy this installation's store to an S3 bucket."""

from __future__ import annotations

import click

from mediasyncd.cli.common import CliError, CliState, echo_json, pass_state
from mediasyncd.store.locks import ingest_lock

# How long the copy waits for a running ingest (the daemon's) before giving up.
WAIT_SECONDS = 600.0


@click.command("migrate")
@click.option(
    "--to-store",
    "to_store",
    required=True,
    metavar="URL",
    help="The store to copy into: s3://BUCKET/PREFIX.",
)
@click.option(
    "--endpoint-url",
    default=None,
    help="The S3-compatible service of URL (default: the config's store.endpoint_url).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def command(state: CliState, to_store: str, endpoint_url: str | None, as_json: bool) -> int:
    """Copy every object of the configured store into the store at URL.

    Each object is verified (the bytes sent hash to its name, and S3 checks their
    SHA-256; one already there is read back and re-hashed). The copy can be killed and
    run again: it resumes after the last verified object. The local store is left as it
    was. Ingests wait while it runs. When it reports ok, set `[store] url = URL` (and
    endpoint_url) in the config.

    Exit status: 0 every object is in the target, verified; 1 some object could not be
    copied or is missing (the report names it).
    """
    from mediasyncd.store.migrate import migrate_store, store_root
    from mediasyncd.store.s3 import open_s3_store

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
    with ingest_lock(app.state_dir, exclusive=True, wait=WAIT_SECONDS):
        report = migrate_store(source, target, index=app.index, state_dir=app.state_dir)
    if as_json:
        echo_json(report.to_json())
        return 0 if report.ok else 1
    resumed = f" (resumed after {report.resumed_after})" if report.resumed_after else ""
    click.echo(
        f"{report.objects} objects{resumed}: {report.copied} copied ({report.bytes_copied} "
        f"bytes), {report.already_there} verified in {report.target} already"
    )
    for problem in report.problems:
        click.echo(f"{problem['object']}: {problem['problem']}", err=True)
    if report.ok:
        click.echo(f'done: set [store] url = "{to_store}" in the config to use it')
        return 0
    click.echo(f"{report.problem_count} problems: run it again, or `mediasyncd verify`", err=True)
    return 1
