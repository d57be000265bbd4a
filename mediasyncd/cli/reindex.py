"""`mediasyncd reindex`: rebuild the index from the store alone."""

from __future__ import annotations

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state


@click.command("reindex")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def command(state: CliState, as_json: bool, yes: bool) -> int:
    """Rebuild index.db from the manifests and documents kept in the store.

    Works even if every drop has been deleted. The current index is moved aside to
    index.db.before-reindex-<time>, never deleted. Stop the daemon first.
    """
    from mediasyncd.ingest.replay import reindex

    app = state.app
    if not yes and not as_json:
        click.confirm(f"Rebuild {app.describe_index()} from the store?", abort=True)
    app.close()
    summary = reindex(app.state_dir, app.config, app.store)
    data = {
        "sources": summary.sources,
        "members": summary.members,
        "matches": summary.matches,
        "missing_objects": summary.missing_objects,
        "previous_index": summary.previous_index,
        "seconds": round(summary.seconds, 3),
    }
    if as_json:
        echo_json(data)
    else:
        click.echo(
            f"rebuilt the index from {summary.sources} sources ({summary.members} members): "
            f"{summary.matches} matches in {summary.seconds:.2f} s"
        )
        if summary.previous_index:
            click.echo(f"the previous index was kept at {summary.previous_index}")
        for digest in summary.missing_objects:
            click.echo(f"missing object: {digest}", err=True)
    return 1 if summary.missing_objects else 0
