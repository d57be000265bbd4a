"""`mediasyncd matches` and `mediasyncd unresolved`: what is linked, and what is not yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mediasyncd.cli.common import FORMAT_OPTION, CliState, pass_state, write_records
from mediasyncd.reports import MATCH_COLUMNS, UNRESOLVED_COLUMNS, iter_matches, iter_unresolved
from mediasyncd.timeutil import parse_timezone
from mediasyncd.traces.report import (
    PAIR_COLUMNS,
    UNRESOLVED_TRACE_COLUMNS,
    TimeFilter,
    iter_trace_pairs,
    iter_trace_unresolved,
    parse_moment,
    parse_since,
)

SUBJECT_OPTION = click.option(
    "--subject",
    type=click.Choice(["conversation", "trace"]),
    default=None,
    help="Only links to conversations, or only links to traces.",
)

# Columns of the table view of photo-trace pairs (csv has the seed's full set).
PAIR_TABLE_COLUMNS = (
    "user_id",
    "trace_id",
    "trace_name",
    "digest",
    "image_time",
    "trace_time",
    "gap_seconds",
    "strategy",
    "confidence",
)


def time_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--since / --from / --to: keep trace records by time (with --subject trace)."""
    command = click.option(
        "--to", "until", help="Only before this date or time (display time zone if none)."
    )(command)
    command = click.option(
        "--from", "start", help="Only from this date or time (display time zone if none)."
    )(command)
    return click.option("--since", help="Only the last N s/m/h/d/w, e.g. 7d.")(command)


def _time_filter(
    state: CliState, subject: str | None, since: str | None, start: str | None, until: str | None
) -> TimeFilter:
    if not (since or start or until):
        return TimeFilter()
    if subject != "trace":
        raise click.UsageError("--since, --from and --to need --subject trace")
    if since and start:
        raise click.UsageError("give --since or --from, not both")
    zone = parse_timezone(state.app.config.traces.display_timezone)
    try:
        begin = parse_since(since) if since else (parse_moment(start, zone) if start else None)
        end = parse_moment(until, zone) if until else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    return TimeFilter(begin, end)


@click.command("matches")
@FORMAT_OPTION
@SUBJECT_OPTION
@click.option("--conversation", "conversations", multiple=True, help="Only this conversation.")
@click.option("--user", "users", multiple=True, help="Only this user (trace subject).")
@click.option("--strategy", "strategies", multiple=True, help="Only links made this way.")
@click.option(
    "--min-confidence", type=click.FloatRange(0, 1), default=0.0, help="Drop weaker links."
)
@time_options
@pass_state
def matches_command(
    state: CliState,
    fmt: str,
    subject: str | None,
    conversations: tuple[str, ...],
    users: tuple[str, ...],
    strategies: tuple[str, ...],
    min_confidence: float,
    since: str | None,
    start: str | None,
    until: str | None,
) -> int:
    """One record per link between a file and a conversation, message or trace.

    Fields: subject, conversation_id, message_id (empty for a conversation-level link),
    trace_id, user_id, digest, strategy, association (generated, attachment, inline),
    confidence (0-1) and path (one place the file was found).

    With --subject trace, each photo-trace pair also carries trace_name, input, output,
    model, cost, image_path, image_time, trace_time (in traces.display_timezone),
    gap_seconds and time_source; --format csv then prints the seed's columns.
    """
    window = _time_filter(state, subject, since, start, until)
    if subject == "trace":
        pairs = iter_trace_pairs(
            state.app.index,
            parse_timezone(state.app.config.traces.display_timezone),
            users=users,
            strategies=strategies,
            min_confidence=min_confidence,
            window=window,
        )
        columns = {"csv": PAIR_COLUMNS, "table": PAIR_TABLE_COLUMNS}.get(fmt, MATCH_COLUMNS)
        write_records(pairs, fmt, columns)
        return 0
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
@time_options
@pass_state
def unresolved_command(
    state: CliState,
    fmt: str,
    subject: str | None,
    conversations: tuple[str, ...],
    users: tuple[str, ...],
    include_mentions: bool,
    since: str | None,
    start: str | None,
    until: str | None,
) -> int:
    """References that no stored file satisfies yet.

    Unresolved references are normal (exports leave many files out); a later drop that
    carries the file resolves them without a full rematch. File names mentioned in text
    are listed only with --include-mentions, except an ambiguous_mention: a stored file
    that nothing claims, named in two or more conversations, so linked to none.

    With --subject trace: unused traces (kind unused_trace), photos no trace pairs with
    (unmatched_image) and media references no photo satisfies (langfuse_media).
    """
    window = _time_filter(state, subject, since, start, until)
    if subject == "trace":
        leftovers = iter_trace_unresolved(
            state.app.index,
            parse_timezone(state.app.config.traces.display_timezone),
            users=users,
            window=window,
        )
        write_records(leftovers, fmt, UNRESOLVED_TRACE_COLUMNS)
        return 0
    records = iter_unresolved(
        state.app.index,
        subject=subject,
        conversations=conversations,
        users=users,
        include_mentions=include_mentions,
    )
    write_records(records, fmt, UNRESOLVED_COLUMNS)
    return 0
