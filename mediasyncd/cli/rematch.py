"""`mediasyncd rematch`: recompute matches, all or for some conversations or users."""

from __future__ import annotations

import time

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.cli.known import check_known
from mediasyncd.cli.words import plural
from mediasyncd.matching import MatchDelta, all_matchers


@click.command("rematch")
@click.option("--conversation", "conversations", multiple=True, help="Only this conversation.")
@click.option("--user", "users", multiple=True, help="Only this user's images and traces.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@pass_state
def command(
    state: CliState, conversations: tuple[str, ...], users: tuple[str, ...], as_json: bool
) -> int:
    """Recompute matches from the index (all of them unless narrowed).

    Never needed for correctness: ingests already recompute what they affect. Useful
    after changing matching settings.
    """
    app = state.app
    check_known(app.index, "conversation", conversations)
    check_known(app.index, "user", users)
    started = time.monotonic()
    totals: dict[str, MatchDelta] = {}
    narrowed = bool(conversations or users)
    for matcher in all_matchers(app.config):
        wanted = set(conversations) if matcher.subject == "conversation" else set(users)
        if narrowed and not wanted:
            continue
        totals[matcher.subject] = matcher.rematch(app.index, wanted if narrowed else None)
    seconds = time.monotonic() - started
    summary = {
        "rematched_conversations": totals.get("conversation", MatchDelta()).recomputed,
        "rematched_users": totals.get("trace", MatchDelta()).recomputed,
        "matches_added": sum(d.added for d in totals.values()),
        "matches_removed": sum(d.removed for d in totals.values()),
        "seconds": round(seconds, 3),
    }
    if as_json:
        echo_json(summary)
    else:
        click.echo(
            f"rematched {plural(int(summary['rematched_conversations']), 'conversation')} and "
            f"{plural(int(summary['rematched_users']), 'user')}: "
            f"{plural(int(summary['matches_added']), 'match', 'matches')} added, "
            f"{summary['matches_removed']} removed in {seconds:.2f} s"
        )
    return 0
