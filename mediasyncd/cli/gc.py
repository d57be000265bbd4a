"""`mediasyncd gc`: remove objects nothing references."""

from __future__ import annotations

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.coordination import locks_for
from mediasyncd.store.gc import collect_garbage

# How long gc waits for a running ingest (the daemon's, say) before giving up.
WAIT_SECONDS = 600.0


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@click.option(
    "--grace",
    "grace_seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Keep unreferenced objects younger than this many seconds "
    "(default: daemon.gc_grace_seconds).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def command(state: CliState, dry_run: bool, grace_seconds: float | None, as_json: bool) -> int:
    """Remove objects no occurrence, match or manifest references.

    Only objects older than the grace period go, and gc waits for a running ingest (it
    takes the ingest lock), so it is safe while the daemon runs.
    """
    app = state.app
    grace = app.config.daemon.gc_grace_seconds if grace_seconds is None else grace_seconds
    with locks_for(app.index, app.state_dir).ingest(exclusive=True, wait=WAIT_SECONDS):
        report = collect_garbage(
            app.index,
            app.store,
            grace_seconds=grace,
            dry_run=dry_run,
            keep_document_versions=app.config.gc.keep_document_versions,
        )
    if as_json:
        echo_json(report.to_json())
        return 0
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {report.objects_removed} objects ({report.bytes_removed} bytes), "
        f"{report.blob_rows_removed} of them with index rows; "
        f"kept {report.kept_in_grace} unreferenced objects younger than {grace:g} s"
    )
    if report.documents_superseded:
        click.echo(
            f"{verb} {report.documents_superseded} superseded document versions "
            "(gc.keep_document_versions)"
        )
    if report.temp_files_removed:
        click.echo(f"removed {report.temp_files_removed} stale temp files")
    return 0
