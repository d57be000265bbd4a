"""The table views of `matches` and `unresolved`: grouped by conversation (or user), with
titles, roles, times and file names, fitted to the terminal. The full records are what
`--format jsonl|csv` prints; a table is for reading.

Records stream in grouped order (the queries sort them) and are printed one group at a
time, so a table of a million links needs no more memory than its largest group: column
widths come from each column's usual width, not from reading every row first.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import PurePosixPath
from typing import Any

import click

from mediasyncd.cli.words import plural
from mediasyncd.conversations.keys import file_id_in_name

INDENT = "  "
GAP = "  "
Row = list[str]
Record = dict[str, Any]


@dataclass(frozen=True)
class Column:
    header: str
    # The width it gets when the terminal has room (longer cells are shortened).
    width: int
    # Flexible columns give up width (down to min_width) when the terminal is narrow,
    # the lowest `shrink` first.
    flexible: bool = False
    min_width: int = 8
    shrink: int = 0
    # Shortened by dropping the start (a time keeps `01-31 16:30`), not the middle.
    keep_end: bool = False


@dataclass
class Group:
    heading: str
    rows: list[Row]


def terminal_width() -> int:
    """$COLUMNS, else the terminal's width (stderr's when stdout goes to a pipe such as
    `| less`: the table still ends up on that screen), else 100."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    for fd in (1, 2):
        try:
            return os.get_terminal_size(fd).columns
        except OSError:
            continue
    return 100


def cells(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _take(text: str, width: int, *, from_end: bool = False) -> str:
    """The longest start (or end) of `text` that fits in `width` columns."""
    taken: list[str] = []
    used = 0
    for ch in reversed(text) if from_end else text:
        used += cells(ch)
        if used > width:
            break
        taken.append(ch)
    return "".join(reversed(taken) if from_end else taken)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cells(text))


def print_groups(columns: Sequence[Column], groups: Iterable[Group], width: int) -> int:
    """Print each group (heading, column header, rows) as it comes; returns how many."""
    widths = fit(columns, width)
    header = _line(columns, [c.header for c in columns], widths)
    count = 0
    for group in groups:
        if count:
            click.echo("")
        click.echo(_clip(group.heading, width))
        click.echo(header)
        for row in group.rows:
            click.echo(_line(columns, row, widths))
        count += 1
    return count


def fit(columns: Sequence[Column], width: int) -> list[int]:
    widths = [max(c.width, len(c.header)) for c in columns]
    excess = len(INDENT) + sum(widths) + len(GAP) * (len(widths) - 1) - width
    for i, column in sorted(enumerate(columns), key=lambda item: item[1].shrink):
        if excess <= 0:
            break
        if column.flexible:
            give = min(excess, max(0, widths[i] - max(column.min_width, len(column.header))))
            widths[i] -= give
            excess -= give
    return widths


def _line(columns: Sequence[Column], cells: Sequence[str], widths: Sequence[int]) -> str:
    text = GAP.join(
        _pad(_take(cell, width, from_end=True) if column.keep_end else _clip(cell, width), width)
        for column, cell, width in zip(columns, cells, widths, strict=True)
    )
    return (INDENT + text).rstrip()


def _clip(text: str, width: int) -> str:
    """Shortened in the middle, keeping a name's end (its extension) readable."""
    if cells(text) <= width:
        return text
    if width < 8:
        return _take(text, max(0, width - 1)) + "…"
    tail = _take(text, width // 3, from_end=True)
    return _take(text, width - cells(tail) - 1) + "…" + tail


def grouped(
    records: Iterable[Record],
    key: Callable[[Record], str],
    heading: Callable[[list[Record]], str],
    row: Callable[[Record], Row],
) -> Iterator[Group]:
    """Consecutive records with one key become one group (the records come sorted)."""
    members: list[Record] = []
    for record in records:
        if members and key(record) != key(members[0]):
            yield Group(heading(members), [row(m) for m in members])
            members = []
        members.append(record)
    if members:
        yield Group(heading(members), [row(m) for m in members])


# -- shared wording ------------------------------------------------------------------------


def show_time(epoch: Any, zone: tzinfo) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(float(epoch), zone).strftime("%Y-%m-%d %H:%M")


def conversation_heading(record: Record, zone: tzinfo) -> str:
    title = record.get("title") or "(untitled)"
    started = show_time(record.get("conversation_time"), zone)[:10]
    when = f"{started}, " if started else ""
    return f"{title} ({when}{record['conversation_id']})"


def message_cell(record: Record, zone: tzinfo) -> str:
    if not record.get("message_id"):
        return "whole conversation"
    role = record.get("message_role") or "message"
    return f"{role} {show_time(record.get('message_time'), zone)}".rstrip()


def file_name(record: Record) -> str:
    """An attachment's name, else the name it was found under without a `file-<id>-`
    prefix, else the digest."""
    name = PurePosixPath(str(record.get("file_name") or "")).name
    file_id = file_id_in_name(name)
    if file_id is not None and name[len(file_id) : len(file_id) + 1] in {"-", "_"}:
        name = name[len(file_id) + 1 :] or name
    return name or str(record.get("digest") or "")


def _short_time(text: Any) -> str:
    """`2025-01-31T16:30:00+00:00` as `2025-01-31 16:30`."""
    return str(text or "")[:16].replace("T", " ")


# -- matches ---------------------------------------------------------------------------------

MATCH_TABLE = (
    Column("message", 26, flexible=True, min_width=10, shrink=2),
    Column("file", 44, flexible=True, min_width=12),
    Column("association", 10),
    Column("strategy", 16, flexible=True, min_width=10, shrink=1),
    Column("conf", 4),
)

PAIR_TABLE = (
    Column("trace", 30, flexible=True, min_width=12),
    Column("trace time", 16, flexible=True, min_width=11, shrink=1, keep_end=True),
    Column("photo", 30, flexible=True, min_width=8, shrink=3),
    Column("photo time", 16, flexible=True, min_width=11, shrink=1, keep_end=True),
    Column("gap", 7),
    Column("strategy", 14, flexible=True, min_width=8, shrink=2),
    Column("conf", 4),
)


def print_conversation_matches(records: Iterable[Record], zone: tzinfo) -> int:
    """Links grouped by conversation, then a total; returns how many links were shown."""
    links = 0
    files: set[str] = set()

    def heading(members: list[Record]) -> str:
        nonlocal links
        links += len(members)
        digests = {m["digest"] for m in members}
        files.update(digests)
        return f"{conversation_heading(members[0], zone)}: {plural(len(digests), 'file')}"

    def row(r: Record) -> Row:
        return [
            message_cell(r, zone),
            file_name(r),
            str(r.get("association") or ""),
            str(r.get("strategy") or ""),
            f"{float(r.get('confidence') or 0):.2f}",
        ]

    groups = grouped(records, lambda r: str(r["conversation_id"]), heading, row)
    conversations = print_groups(MATCH_TABLE, groups, terminal_width())
    if links:
        click.echo(
            f"\n{plural(links, 'link')} to {plural(len(files), 'file')} in "
            f"{plural(conversations, 'conversation')}"
        )
    return links


def print_trace_pairs(records: Iterable[Record]) -> int:
    """Photo-trace pairs grouped by user, then a total; returns how many were shown."""
    pairs = 0

    def heading(members: list[Record]) -> str:
        nonlocal pairs
        pairs += len(members)
        return f"user {members[0]['user_id']}: {plural(len(members), 'pair')}"

    def row(r: Record) -> Row:
        trace = " ".join(str(p) for p in (r.get("trace_name"), r.get("trace_id")) if p)
        gap = r.get("gap_seconds")
        return [
            trace,
            _short_time(r.get("trace_time")),
            PurePosixPath(str(r.get("image_path") or r.get("digest") or "")).name,
            _short_time(r.get("image_time")),
            "" if gap is None else f"{float(gap):+.0f} s",
            str(r.get("strategy") or ""),
            f"{float(r.get('confidence') or 0):.2f}",
        ]

    groups = grouped(records, lambda r: str(r["user_id"]), heading, row)
    users = print_groups(PAIR_TABLE, groups, terminal_width())
    if pairs:
        click.echo(f"\n{plural(pairs, 'pair')} for {plural(users, 'user')}")
    return pairs


# -- unresolved ------------------------------------------------------------------------------

UNRESOLVED_TABLE = (
    Column("message", 26, flexible=True, min_width=10, shrink=2),
    Column("kind", 24, flexible=True, min_width=10, shrink=1),
    Column("key", 40, flexible=True, min_width=14),
)

LEFTOVER_TABLE = (
    Column("trace or photo", 44, flexible=True, min_width=14),
    Column("time", 16, flexible=True, min_width=11, shrink=1, keep_end=True),
)

_LEFTOVER_WORDS = {
    "unused_trace": ("unused trace", "no photo went with it"),
    "unmatched_image": ("unmatched photo", "no trace took it"),
    "langfuse_media": ("media reference", "no photo satisfies it"),
}


def print_unresolved_references(records: Iterable[Record], zone: tzinfo) -> int:
    """`Conversations`, the references grouped by conversation, then their total."""
    references = 0

    def heading(members: list[Record]) -> str:
        nonlocal references
        references += len(members)
        return f"{conversation_heading(members[0], zone)}: {plural(len(members), 'reference')}"

    def row(r: Record) -> Row:
        return [message_cell(r, zone), str(r.get("kind") or ""), str(r.get("key") or "")]

    click.echo("Conversations\n")
    groups = grouped(records, lambda r: str(r["conversation_id"]), heading, row)
    conversations = print_groups(UNRESOLVED_TABLE, groups, terminal_width())
    if conversations:
        click.echo("")
    click.echo(
        f"{plural(references, 'unresolved reference')} in {plural(conversations, 'conversation')}"
    )
    return references


def print_trace_leftovers(records: Iterable[Record]) -> int:
    """`Traces`: unused traces, unmatched photos and media references, each kind grouped
    by user (the order they come in), then the totals."""
    counts = dict.fromkeys(_LEFTOVER_WORDS, 0)
    users: set[str] = set()

    def heading(members: list[Record]) -> str:
        kind, user = members[0]["kind"], str(members[0]["user_id"])
        counts[kind] = counts.get(kind, 0) + len(members)
        users.add(user)
        word = _LEFTOVER_WORDS.get(kind, (kind, ""))[0]
        return f"user {user}: {plural(len(members), word)}"

    def row(r: Record) -> Row:
        if r["kind"] == "unmatched_image":
            what = PurePosixPath(str(r.get("path") or r.get("key") or "")).name
        else:
            what = str(r.get("trace_id") or r.get("key") or "")
        return [what, _short_time(r.get("time"))]

    click.echo("Traces\n")
    groups = grouped(records, lambda r: f"{r['kind']}\0{r['user_id']}", heading, row)
    if print_groups(LEFTOVER_TABLE, groups, terminal_width()):
        click.echo("")
    summary = ", ".join(
        f"{plural(counts[kind], word)} ({why})"
        for kind, (word, why) in _LEFTOVER_WORDS.items()
        if counts.get(kind)
    )
    for_users = f", for {plural(len(users), 'user')}" if users else ""
    click.echo((summary or "nothing left over") + for_users)
    return sum(counts.values())
