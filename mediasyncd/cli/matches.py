"""`mediasyncd matches` and `mediasyncd unresolved`: what is linked, and what is not yet."""

from __future__ import annotations

import click

from mediasyncd.cli.common import FORMAT_OPTION, CliState, pass_state, write_records
from mediasyncd.reports import MATCH_COLUMNS, UNRESOLVED_COLUMNS, iter_matches, iter_unresolved

SUBJECT_OPTION = click.option(
    "--subject",
    type=click.Choice(["conversation", "trace"]),
    default=None,
    help="Only links to conversations, or only links to traces.",
)


@click.command("matches")
@FORMAT_OPTION
@SUBJECT_OPTION
@click.option("--conversation", "conversations", multiple=True, help="Only this conversation.")
@click.option("--user", "users", multiple=True, help="Only this user (trace subject).")
@click.option("--strategy", "strategies", multiple=True, help="Only links made this way.")
@click.option(
    "--min-confidence", type=click.FloatRange(0, 1), default=0.0, help="Drop weaker links."
)
@pass_state
def matches_command(
    state: CliState,
    fmt: str,
    subject: str | None,
    conversations: tuple[str, ...],
    users: tuple[str, ...],
    strategies: tuple[str, ...],
    min_confidence: float,
) -> int:
    """One record per link between a file and a conversation, message or trace.

    Fields: subject, conversation_id, message_id (empty for a conversation-level link),
    trace_id, user_id, digest, strategy, association (generated, attachment, inline),
    confidence (0-1) and path (one place the file was found).
    """
    records = iter_matches(
        state.app.index,
        subject=subject,
        conversations=conversations,
        users=users,
        strategies=strategies,
        min_confidence=min_confidence,
    )
    write_records(records, fmt, MATCH_COLUMNS)
    return 0


@click.command("unresolved")
@FORMAT_OPTION
@SUBJECT_OPTION
@click.option("--conversation", "conversations", multiple=True, help="Only this conversation.")
@click.option("--user", "users", multiple=True, help="Only this user (trace subject).")
@click.option("--include-mentions", is_flag=True, help="Also list file names mentioned in text.")
@pass_state
def unresolved_command(
    state: CliState,
    fmt: str,
    subject: str | None,
    conversations: tuple[str, ...],
    users: tuple[str, ...],
    include_mentions: bool,
) -> int:
    """References that no stored file satisfies yet.

    Unresolved references are normal (exports leave many files out); a later drop that
    carries the file resolves them without a full rematch.
    """
    records = iter_unresolved(
        state.app.index,
        subject=subject,
        conversations=conversations,
        users=users,
        include_mentions=include_mentions,
    )
    write_records(records, fmt, UNRESOLVED_COLUMNS)
    return 0
