"""`mediasyncd rematch`: recompute matches, all or for some conversations or users."""

from __future__ import annotations

import time
from typing import Any

import click

from mediasyncd import kinds
from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.cli.known import check_known
from mediasyncd.cli.words import plural
from mediasyncd.matching import MatchDelta


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
    # What each option narrows: the ids of one subject.
    wanted_by_subject = {"conversation": set(conversations), "trace": set(users)}
    narrowed = bool(conversations or users)
    summary: dict[str, Any] = {}
    total = MatchDelta()
    for kind in kinds.all_kinds():
        wanted = wanted_by_subject.get(kind.subject, set())
        delta = MatchDelta()
        if wanted or not narrowed:
            delta = kind.matcher(app.config).rematch(app.index, wanted if narrowed else None)
        summary[kind.rematched] = delta.recomputed
        total += delta
    seconds = time.monotonic() - started
    summary |= {
        "matches_added": total.added,
        "matches_removed": total.removed,
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
