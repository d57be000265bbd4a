"""The table views of `matches` and `unresolved`: grouped by conversation (or user), with
titles, roles, times and file names, fitted to the terminal. The full records are what
`--format jsonl|csv` prints; a table is for reading."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import PurePosixPath
from typing import Any

import click

from mediasyncd.cli.words import plural
from mediasyncd.conversations.keys import file_id_in_name

INDENT = "  "
GAP = "  "
# Rows of one group are printed under its heading line; groups are apart by a blank line.
Row = list[str]


@dataclass(frozen=True)
class Column:
    header: str
    # Flexible columns give up width (down to min_width) when the terminal is narrow,
    # the lowest `shrink` first.
    flexible: bool = False
    min_width: int = 8
    shrink: int = 0


@dataclass
class Group:
    heading: str
    rows: list[Row]


def terminal_width() -> int:
    """The terminal's width ($COLUMNS first); 100 when output is not a terminal."""
    return shutil.get_terminal_size((100, 24)).columns


def print_groups(columns: Sequence[Column], groups: Sequence[Group], width: int) -> None:
    widths = _fit(columns, [row for group in groups for row in group.rows], width)
    header = _line([c.header for c in columns], widths)
    for number, group in enumerate(groups):
        if number:
            click.echo("")
        click.echo(_clip(group.heading, width))
        click.echo(header)
        for row in group.rows:
            click.echo(_line(row, widths))


def _fit(columns: Sequence[Column], rows: Sequence[Row], width: int) -> list[int]:
    widths = [len(c.header) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    excess = len(INDENT) + sum(widths) + len(GAP) * (len(widths) - 1) - width
    for i, column in sorted(enumerate(columns), key=lambda item: item[1].shrink):
        if excess <= 0:
            break
        if column.flexible:
            give = min(excess, max(0, widths[i] - max(column.min_width, len(column.header))))
            widths[i] -= give
            excess -= give
    return widths


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    text = GAP.join(_clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True))
    return (INDENT + text).rstrip()


def _clip(text: str, width: int) -> str:
    """Shortened in the middle, keeping a name's end (its extension) readable."""
    if len(text) <= width:
        return text
    if width < 8:
        return text[: max(0, width - 1)] + "…"
    tail = width // 3
    return text[: width - tail - 1] + "…" + text[len(text) - tail :]


# -- shared wording ------------------------------------------------------------------------


def show_time(epoch: Any, zone: tzinfo) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(float(epoch), zone).strftime("%Y-%m-%d %H:%M")


def conversation_heading(record: dict[str, Any], zone: tzinfo) -> str:
    title = record.get("title") or "(untitled)"
    started = show_time(record.get("conversation_time"), zone)[:10]
    when = f"{started}, " if started else ""
    return f"{title} ({when}{record['conversation_id']})"


def message_cell(record: dict[str, Any], zone: tzinfo) -> str:
    if not record.get("message_id"):
        return "whole conversation"
    role = record.get("message_role") or "message"
    return f"{role} {show_time(record.get('message_time'), zone)}".rstrip()


def file_name(record: dict[str, Any]) -> str:
    """An attachment's name, else the name it was found under without a `file-<id>-`
    prefix, else the digest."""
    name = str(record.get("file_name") or "")
    name = PurePosixPath(name).name
    file_id = file_id_in_name(name)
    if file_id is not None and name[len(file_id) : len(file_id) + 1] in {"-", "_"}:
        name = name[len(file_id) + 1 :] or name
    return name or str(record.get("digest") or "")


def in_conversation_order(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conversations oldest first; in each, conversation-level links first, then by the
    message's time."""

    def order(r: dict[str, Any]) -> tuple[float, str, int, float, str]:
        return (
            float(r.get("conversation_time") or 0),
            str(r["conversation_id"]),
            1 if r.get("message_id") else 0,
            float(r.get("message_time") or 0),
            str(r.get("message_id") or ""),
        )

    return sorted(records, key=order)


def grouped(
    records: Iterable[dict[str, Any]],
    key: Callable[[dict[str, Any]], str],
    heading: Callable[[list[dict[str, Any]]], str],
    row: Callable[[dict[str, Any]], Row],
) -> list[Group]:
    """Consecutive records with one key become one group (records come sorted by it)."""
    groups: list[Group] = []
    members: list[dict[str, Any]] = []

    def close() -> None:
        if members:
            groups.append(Group(heading(members), [row(m) for m in members]))

    current: str | None = None
    for record in records:
        if key(record) != current:
            close()
            members = []
            current = key(record)
        members.append(record)
    close()
    return groups


# -- matches ---------------------------------------------------------------------------------

MATCH_TABLE = (
    Column("message", flexible=True, min_width=10, shrink=2),
    Column("file", flexible=True, min_width=12),
    Column("association"),
    Column("strategy", flexible=True, min_width=10, shrink=1),
    Column("conf"),
)

PAIR_TABLE = (
    Column("trace", flexible=True, min_width=12, shrink=1),
    Column("trace time"),
    Column("photo", flexible=True, min_width=8),
    Column("photo time"),
    Column("gap"),
    Column("strategy", flexible=True, min_width=8, shrink=2),
    Column("conf"),
)


def print_conversation_matches(records: Iterable[dict[str, Any]], zone: tzinfo) -> int:
    """Links grouped by conversation; returns how many links were shown."""
    items = in_conversation_order(records)

    def heading(members: list[dict[str, Any]]) -> str:
        files = len({m["digest"] for m in members})
        return f"{conversation_heading(members[0], zone)}: {plural(files, 'file')}"

    def row(r: dict[str, Any]) -> Row:
        return [
            message_cell(r, zone),
            file_name(r),
            str(r.get("association") or ""),
            str(r.get("strategy") or ""),
            f"{float(r.get('confidence') or 0):.2f}",
        ]

    groups = grouped(items, lambda r: str(r["conversation_id"]), heading, row)
    print_groups(MATCH_TABLE, groups, terminal_width())
    if items:
        files = len({r["digest"] for r in items})
        click.echo(
            f"\n{plural(len(items), 'link')} to {plural(files, 'file')} in "
            f"{plural(len(groups), 'conversation')}"
        )
    return len(items)


def print_trace_pairs(records: Iterable[dict[str, Any]]) -> int:
    """Photo-trace pairs grouped by user; returns how many pairs were shown."""
    items = list(records)

    def heading(members: list[dict[str, Any]]) -> str:
        return f"user {members[0]['user_id']}: {plural(len(members), 'pair')}"

    def row(r: dict[str, Any]) -> Row:
        trace = " ".join(str(p) for p in (r.get("trace_name"), r.get("trace_id")) if p)
        gap = r.get("gap_seconds")
        return [
            trace,
            str(r.get("trace_time") or "")[:16].replace("T", " "),
            PurePosixPath(str(r.get("image_path") or r.get("digest") or "")).name,
            str(r.get("image_time") or "")[:16].replace("T", " "),
            "" if gap is None else f"{float(gap):+.0f} s",
            str(r.get("strategy") or ""),
            f"{float(r.get('confidence') or 0):.2f}",
        ]

    groups = grouped(items, lambda r: str(r["user_id"]), heading, row)
    print_groups(PAIR_TABLE, groups, terminal_width())
    if items:
        click.echo(f"\n{plural(len(items), 'pair')} for {plural(len(groups), 'user')}")
    return len(items)


# -- unresolved ------------------------------------------------------------------------------

UNRESOLVED_TABLE = (
    Column("message", flexible=True, min_width=10, shrink=2),
    Column("kind", flexible=True, min_width=10, shrink=1),
    Column("key", flexible=True, min_width=14),
)

TRACE_LEFTOVER_TABLE = (
    Column("kind"),
    Column("trace or photo", flexible=True, min_width=14),
    Column("time"),
)

_LEFTOVER_WORDS = {
    "unused_trace": ("unused trace", "no photo went with it"),
    "unmatched_image": ("unmatched photo", "no trace took it"),
    "langfuse_media": ("media reference", "no photo satisfies it"),
}


def print_unresolved_references(records: Iterable[dict[str, Any]], zone: tzinfo) -> int:
    items = in_conversation_order(records)

    def heading(members: list[dict[str, Any]]) -> str:
        return f"{conversation_heading(members[0], zone)}: {plural(len(members), 'reference')}"

    def row(r: dict[str, Any]) -> Row:
        return [message_cell(r, zone), str(r.get("kind") or ""), str(r.get("key") or "")]

    groups = grouped(items, lambda r: str(r["conversation_id"]), heading, row)
    click.echo(
        f"Conversations: {plural(len(items), 'unresolved reference')} in "
        f"{plural(len(groups), 'conversation')}"
    )
    if groups:
        click.echo("")
        print_groups(UNRESOLVED_TABLE, groups, terminal_width())
    return len(items)


def print_trace_leftovers(records: Iterable[dict[str, Any]]) -> int:
    items = list(records)

    def heading(members: list[dict[str, Any]]) -> str:
        return f"user {members[0]['user_id']}: {plural(len(members), 'item')}"

    def row(r: dict[str, Any]) -> Row:
        what = r.get("trace_id") if r["kind"] != "unmatched_image" else r.get("path")
        return [
            _LEFTOVER_WORDS.get(r["kind"], (r["kind"], ""))[0],
            PurePosixPath(str(what or r.get("key") or "")).name
            if r["kind"] == "unmatched_image"
            else str(what or r.get("key") or ""),
            str(r.get("time") or "")[:16].replace("T", " "),
        ]

    groups = grouped(items, lambda r: str(r["user_id"]), heading, row)
    counts = {kind: sum(1 for r in items if r["kind"] == kind) for kind in _LEFTOVER_WORDS}
    summary = ", ".join(
        f"{plural(counts[kind], word)} ({why})"
        for kind, (word, why) in _LEFTOVER_WORDS.items()
        if counts[kind]
    )
    users = plural(len(groups), "user")
    click.echo(f"Traces: {summary or 'nothing left over'}" + (f", for {users}" if groups else ""))
    if groups:
        click.echo("")
        print_groups(TRACE_LEFTOVER_TABLE, groups, terminal_width())
    return len(items)
