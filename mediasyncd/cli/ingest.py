"""`mediasyncd ingest PATH…`: what the daemon does for one drop, run now."""

from __future__ import annotations

from pathlib import Path

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.cli.progress import ingest_progress
from mediasyncd.gc import ingest_lock
from mediasyncd.ingest import Ingester, IngestSummary


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@pass_state
def command(state: CliState, paths: tuple[Path, ...], as_json: bool) -> int:
    """Ingest drops now: export zips, archives, folders, image dumps, trace exports.

    Every member is streamed into the content-addressed store (nothing is unpacked),
    its occurrence recorded, and only the matches the drop can affect are recomputed.
    Exit status: 0 when every source was ingested, 1 when any failed (the others land).
    """
    app = state.app
    progress = ingest_progress(app.config.logging.progress_interval_seconds)
    # Shared with other ingests, exclusive for gc: gc never removes an object this ingest
    # is about to name.
    with ingest_lock(app.state_dir, exclusive=False), progress:
        ingester = Ingester(app.index, app.store, app.config, app.state_dir, progress=progress)
        summary = ingester.ingest_paths(paths)
    if as_json:
        echo_json(summary.to_json())
    else:
        _print_summary(summary)
    return 1 if summary.failed_sources else 0


def _print_summary(summary: IngestSummary) -> None:
    for source in summary.sources:
        note = " (unchanged, skipped)" if source.get("unchanged") else ""
        click.echo(f"{source['state']:7} {source.get('kind') or '-':16} {source['path']}{note}")
    click.echo(
        f"{summary.blobs_new} new objects ({summary.bytes_new} bytes), "
        f"{summary.blobs_deduplicated} already stored; "
        f"{summary.conversations_new} new and {summary.conversations_changed} changed "
        f"conversations; {summary.matches_added} matches added, "
        f"{summary.matches_removed} removed; {summary.seconds:.2f} s"
    )
    for failure in summary.failures:
        where = failure.source + (f" [{failure.member}]" if failure.member else "")
        click.echo(f"error: {where}: {failure.error}", err=True)
