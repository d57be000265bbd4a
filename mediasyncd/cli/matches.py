"""`mediasyncd matches` and `mediasyncd unresolved`: what is linked, and what is not yet."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import tzinfo
from typing import Any

import click

from mediasyncd.cli import tables
from mediasyncd.cli.common import FORMAT_OPTION, CliState, pass_state, write_records
from mediasyncd.cli.known import check_known
from mediasyncd.index.reports import (
    MATCH_COLUMNS,
    UNRESOLVED_COLUMNS,
    iter_matches,
    iter_unresolved,
)
from mediasyncd.timeutil import parse_moment, parse_since, parse_timezone
from mediasyncd.traces.report import (
    PAIR_COLUMNS,
    UNRESOLVED_TRACE_COLUMNS,
    TimeFilter,
    iter_trace_pairs,
    iter_trace_unresolved,
)

SUBJECT_OPTION = click.option(
    "--subject",
    type=click.Choice(["conversation", "trace"]),
    default=None,
    help="Only links to conversations, or only links to traces.",
)

# `unresolved` without --subject prints both kinds of leftovers; csv gets every column.
UNRESOLVED_ALL_COLUMNS = (
    "subject",
    "conversation_id",
    "message_id",
    "trace_id",
    "user_id",
    "kind",
    "key",
    "time",
    "digest",
    "path",
)


def time_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--since / --from / --to: keep trace records by time (with --subject trace)."""
    command = click.option(
        "--to", "until", help="Only before this date or time (display time zone if none)."
    )(command)
    command = click.option(
        "--from", "start", help="Only from this date or time (display time zone if none)."
    )(command)
    return click.option(
        "--since",
        help="Only the last N s/m/h/d/w (e.g. 7d), or since a date or time "
        "(display time zone if none).",
    )(command)


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
        # A date without a zone, here as in --from, is read in the display time zone.
        begin = parse_since(since, zone=zone) if since else None
        begin = parse_moment(start, zone) if start else begin
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
    index = state.read_index
    check_known(index, "conversation", conversations)
    check_known(index, "user", users)
    zone = _zone(state)

    def pairs() -> Iterator[dict[str, Any]]:
        return iter_trace_pairs(
            index,
            zone,
            users=users,
            strategies=strategies,
            min_confidence=min_confidence,
            window=window,
        )

    def links(only: str | None) -> Iterator[dict[str, Any]]:
        return iter_matches(
            index,
            subject=only,
            conversations=conversations,
            users=users,
            strategies=strategies,
            min_confidence=min_confidence,
            detail=fmt == "table",
        )

    if fmt != "table":
        if subject == "trace":
            write_records(pairs(), fmt, PAIR_COLUMNS if fmt == "csv" else MATCH_COLUMNS)
        else:
            write_records(links(subject), fmt, MATCH_COLUMNS)
        return 0
    shown = 0
    if subject != "trace":
        shown += tables.print_conversation_matches(links("conversation"), zone)
    if subject != "conversation" and not conversations:
        if shown:
            click.echo("")
        shown += tables.print_trace_pairs(pairs())
    if not shown:
        click.echo("no links match", err=True)
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
    index = state.read_index
    check_known(index, "conversation", conversations)
    check_known(index, "user", users)
    zone = _zone(state)
    # Without --subject both kinds are listed; --conversation narrows to conversations.
    want_refs = subject != "trace"
    want_traces = subject != "conversation" and not conversations

    def references() -> Iterator[dict[str, Any]]:
        return iter_unresolved(
            index,
            subject="conversation",
            conversations=conversations,
            users=users,
            include_mentions=include_mentions,
            detail=fmt == "table",
        )

    def leftovers() -> Iterator[dict[str, Any]]:
        return iter_trace_unresolved(index, zone, users=users, window=window)

    if fmt != "table":
        if subject == "trace":
            write_records(leftovers(), fmt, UNRESOLVED_TRACE_COLUMNS)
        elif subject == "conversation":
            write_records(references(), fmt, UNRESOLVED_COLUMNS)
        else:
            both = itertools.chain(references(), leftovers() if want_traces else ())
            write_records(both, fmt, UNRESOLVED_ALL_COLUMNS)
        return 0
    if want_refs:
        tables.print_unresolved_references(references(), zone)
    if want_traces:
        if want_refs:
            click.echo("")
        tables.print_trace_leftovers(leftovers())
    return 0


def _zone(state: CliState) -> tzinfo:
    return parse_timezone(state.app.config.traces.display_timezone)
