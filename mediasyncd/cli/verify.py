"""`mediasyncd verify`: re-hash objects, report and quarantine damage."""

from __future__ import annotations

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.store.verify import verify_store


@click.command("verify")
@click.option(
    "--sample",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Fraction of objects to re-hash (chosen at random).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def command(state: CliState, sample: float, as_json: bool) -> int:
    """Re-hash stored objects; damaged ones are moved to quarantine/.

    Exit status 1 when any object is damaged, truncated, missing or misnamed; the report
    names the sources to drop again to repair each one.
    """
    app = state.require_state_dir()
    report = verify_store(app.index, app.store, sample=sample)
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(f"checked {report.checked} objects ({report.bytes_checked} bytes)")
        for problem in report.problems:
            click.echo(f"{problem.kind}: {problem.digest or '-'} {problem.path}: {problem.detail}")
            if problem.quarantined_to:
                click.echo(f"  quarantined to {problem.quarantined_to}")
            for source in problem.redrop:
                click.echo(f"  re-drop to repair: {source}")
        click.echo("ok" if report.ok else f"{len(report.problems)} problem(s) found")
    return 0 if report.ok else 1
