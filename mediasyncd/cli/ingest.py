"""`mediasyncd ingest PATH…`: what the daemon does for one drop, run now."""

from __future__ import annotations

from pathlib import Path

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.cli.progress import ingest_progress
from mediasyncd.coordination import locks_for
from mediasyncd.ingest.pipeline import Ingester, IngestSummary

# Problems printed per source; `--json` has them all.
SHOWN_PROBLEMS = 50


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@pass_state
def command(state: CliState, paths: tuple[Path, ...], as_json: bool) -> int:
    """Ingest drops now: export zips, archives, folders, image dumps, trace exports.

    Every member is streamed into the content-addressed store (nothing is unpacked),
    its occurrence recorded, and only the matches the drop can affect are recomputed.
    Each drop ends ok (all of it read), partial (stored, but something in it could not
    be read or its export manifest names files not there; the problems are listed) or
    failed.

    \b
    Exit status:
      0  every drop is ok
      3  some drop is partial, none failed
      1  some drop failed (the others still land)
      2  usage or configuration error
    """
    app = state.app
    progress = ingest_progress(app.config.logging.progress_interval_seconds)
    # Shared with other ingests, exclusive for gc: gc never removes an object this ingest
    # is about to name.
    with locks_for(app.index, app.state_dir).ingest(exclusive=False), progress:
        ingester = Ingester(app.index, app.store, app.config, app.state_dir, progress=progress)
        summary = ingester.ingest_paths(paths)
    if as_json:
        echo_json(summary.to_json())
    else:
        _print_summary(summary)
    return summary.exit_code


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
    for source in summary.sources:
        for label, key in (("error", "problems"), ("note", "notes")):
            items = source.get(key) or []
            for item in items[:SHOWN_PROBLEMS]:
                member = item.get("member")
                where = source["path"] + (f" [{member}]" if member else "")
                click.echo(f"{label}: {where}: {item['error']}", err=True)
            if len(items) > SHOWN_PROBLEMS:
                click.echo(
                    f"{label}: {source['path']}: and {len(items) - SHOWN_PROBLEMS} more "
                    f"{key} (--json lists them all)",
                    err=True,
                )
