"""`mediasyncd status`: what the index holds and whether the daemon runs."""

from __future__ import annotations

from typing import Any

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.status import collect_status


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@pass_state
def command(state: CliState, as_json: bool) -> int:
    """Counts of objects, sources, conversations, references and matches."""
    app = state.app
    data = collect_status(app.index)
    data["state_dir"] = str(app.state_dir)
    if as_json:
        echo_json(data)
    else:
        _print(data)
    return 0


def _print(data: dict[str, Any]) -> None:
    click.echo(f"state dir      {data['state_dir']}")
    click.echo(f"objects        {data['blobs']} ({_human(data['bytes'])})")
    sources = data["sources"]
    click.echo(
        f"sources        {sources['ok']} ok, {sources.get('partial', 0)} partial, "
        f"{sources['failed']} failed, {sources['pending']} pending"
    )
    click.echo(f"conversations  {data['conversations']} ({data['messages']} messages)")
    click.echo(f"traces         {data['traces']}")
    pairs = data.get("trace_pairs")
    if pairs and (pairs["images"] or pairs["traces"]):
        rate = "-" if pairs["match_rate"] is None else f"{pairs['match_rate']:.1%}"
        click.echo(
            f"trace pairs    {pairs['pairs']} for {pairs['users']} users: "
            f"{pairs['images']} images ({rate} matched), gap median "
            f"{pairs['gap_median_seconds']} s, p95 {pairs['gap_p95_seconds']} s"
        )
    refs = data["references"]
    click.echo(f"references     {refs['resolved']} resolved, {refs['unresolved']} unresolved")
    matches = data["matches"]
    if matches:
        detail = ", ".join(f"{k} {v}" for k, v in matches.items())
        click.echo(f"matches        {sum(matches.values())} ({detail})")
    else:
        click.echo("matches        0")
    click.echo(f"orphans        {data['orphans']} media files no reference points to")
    daemon = data["daemon"]
    if daemon["running"]:
        click.echo(
            f"daemon         running, pid {daemon['pid']} since {daemon['since']}, "
            f"queue {daemon['queue']}"
        )
    else:
        click.echo(f"daemon         not running (queue {daemon['queue']})")
    if daemon.get("activity"):
        click.echo(f"  doing        {daemon['activity']}")
    drop = daemon.get("last_drop")
    if drop:
        note = f": {drop['error']}" if drop.get("error") else ""
        click.echo(f"  last drop    {drop['at']} {drop['state']} {drop['path']}{note}")
    if daemon.get("last_error"):
        click.echo(f"  last error   {daemon['last_error']}")
    last = data["last_ingest"]
    if last:
        click.echo(f"last ingest    {last['at']} {last['state']} {last['path']}")
    if data.get("last_error"):
        err = data["last_error"]
        state = f"{err['state']}: " if err.get("state") else ""
        click.echo(f"last error     {err['at']} {err['path']}: {state}{err['error']}")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
