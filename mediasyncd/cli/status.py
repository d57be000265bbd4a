"""`mediasyncd status`: what the index holds and whether the daemon runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.cli.tables import terminal_width
from mediasyncd.cli.words import describe_progress, human_bytes, plural
from mediasyncd.status import collect_status


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@pass_state
def command(state: CliState, as_json: bool) -> int:
    """Counts of objects, sources, conversations, references and matches."""
    data = collect_status(state.read_index)
    data["state_dir"] = str(state.app.state_dir)
    if as_json:
        echo_json(data)
    else:
        _print(data)
    return 0


def _print(data: dict[str, Any]) -> None:
    click.echo(f"state dir      {data['state_dir']}")
    click.echo(f"objects        {data['blobs']} ({human_bytes(data['bytes'])})")
    sources = data["sources"]
    click.echo(
        f"sources        {sources['ok']} ok, {sources.get('partial', 0)} partial, "
        f"{sources['failed']} failed, {sources['pending']} pending"
    )
    click.echo(f"conversations  {data['conversations']} ({plural(data['messages'], 'message')})")
    click.echo(f"traces         {data['traces']}")
    pairs = data.get("trace_pairs")
    if pairs and (pairs["images"] or pairs["traces"]):
        click.echo(f"trace pairs    {_pairs_line(pairs)}")
    refs = data["references"]
    click.echo(f"references     {refs['resolved']} resolved, {refs['unresolved']} unresolved")
    matches = data["matches"]
    if matches:
        items = [f"{k} {v}" for k, v in matches.items()]
        click.echo(_wrapped(f"matches        {sum(matches.values())} (", items, ")"))
    else:
        click.echo("matches        0")
    orphans = plural(data["orphans"], "media file")
    click.echo(f"orphans        {orphans} no reference points to")
    _print_daemon(data["daemon"])
    last = data["last_ingest"]
    if last:
        click.echo(f"last ingest    {last['at']} {last['state']} {last['path']}")
    if data.get("last_error"):
        err = data["last_error"]
        state = f"{err['state']}: " if err.get("state") else ""
        click.echo(f"last error     {err['at']} {err['path']}: {state}{err['error']}")


def _wrapped(head: str, items: list[str], tail: str) -> str:
    """`head` and the items joined by commas, wrapped to the terminal under the value
    (never inside an item), then `tail`."""
    width = max(60, terminal_width())
    lines = [head]
    for number, item in enumerate(items):
        text = item + (", " if number < len(items) - 1 else tail)
        if len(lines[-1]) + len(text.rstrip()) > width and lines[-1].strip():
            lines[-1] = lines[-1].rstrip()
            lines.append(" " * 15)
        lines[-1] += text
    return "\n".join(lines)


def _pairs_line(pairs: dict[str, Any]) -> str:
    rate = "-" if pairs["match_rate"] is None else f"{pairs['match_rate']:.1%}"
    line = (
        f"{pairs['pairs']} for {plural(pairs['users'], 'user')}: "
        f"{plural(pairs['images'], 'image')} ({rate} matched)"
    )
    # Gaps exist only for pairs made by time; with none there is nothing to say.
    if pairs["gap_median_seconds"] is not None:
        line += (
            f", gap median {pairs['gap_median_seconds']:g} s, p95 {pairs['gap_p95_seconds']:g} s"
        )
    return line


def _print_daemon(daemon: dict[str, Any]) -> None:
    queue = daemon["queue"]
    if "workers" in daemon:
        _print_workers(daemon)
    elif not daemon["running"]:
        click.echo(f"daemon         not running (queue {queue})")
    else:
        click.echo(
            f"daemon         running, pid {daemon['pid']} since {daemon['since']}, queue {queue}"
        )
        current = daemon.get("current")
        if current:
            progress = daemon.get("progress")
            doing = describe_progress(progress) if progress else "starting"
            click.echo(f"  doing        ingesting {Path(current).name}: {doing}")
        else:
            click.echo("  doing        waiting for drops")
        if daemon.get("activity"):
            click.echo(f"  watching     {_activity(daemon['activity'])}")
    drop = daemon.get("last_drop")
    if drop:
        note = f": {drop['error']}" if drop.get("error") else ""
        click.echo(f"  last drop    {drop['at']} {drop['state']} {drop['path']}{note}")
    if daemon.get("last_error"):
        click.echo(f"  last error   {daemon['last_error']}")


def _print_workers(daemon: dict[str, Any]) -> None:
    """A shared index: one line per worker, with what it does."""
    workers = daemon["workers"]
    running = sum(1 for w in workers if w["state"] == "running")
    if running:
        click.echo(f"workers        {running} running (queue {daemon['queue']})")
    else:
        # As on one machine: nothing takes drops from the queue now.
        click.echo(f"daemon         not running (queue {daemon['queue']}): no worker runs")
    for worker in workers:
        beat = f"heartbeat {worker['heartbeat_seconds_ago']:g} s ago"
        click.echo(
            f"  {worker['host']} pid {worker['pid']}: {worker['state']} since "
            f"{worker['since']}, {beat}"
        )
        if worker["state"] != "running":
            continue
        current = worker.get("current")
        if current:
            progress = worker.get("progress")
            doing = describe_progress(progress) if progress else "starting"
            click.echo(f"    doing      ingesting {Path(current).name}: {doing}")
        else:
            click.echo("    doing      waiting for drops")


def _activity(text: str) -> str:
    # "watching 1/1 folder(s); 2 settling": the verb is already the line's label.
    return text.removeprefix("watching ").replace("; ", ", ")
