"""`mediasyncd export DIR`: browsable conversation folders with their media."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from mediasyncd.cli.common import CliState, echo_json, pass_state
from mediasyncd.cli.known import check_known
from mediasyncd.cli.words import plural
from mediasyncd.export import ExportError, ExportSummary, export_archive
from mediasyncd.export.media import MediaMode
from mediasyncd.export.model import ExportFormat
from mediasyncd.timeutil import parse_since


@click.command("export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "markdown"]),
    default=None,
    help="Page format (default: the config's export.format, html).",
)
@click.option(
    "--conversation",
    "conversations",
    multiple=True,
    help="Only (re)write this conversation; repeat for more.",
)
@click.option(
    "--since",
    help="Only (re)write conversations updated since a date (2024-05-01), an ISO "
    "date-time (UTC unless it says otherwise) or a span back from now (90s, 30m, 12h, 7d, "
    "2w).",
)
@click.option(
    "--copy",
    "media",
    flag_value="copy",
    default=None,
    help="Copy media byte for byte (no reflinks).",
)
@click.option(
    "--hardlink",
    "media",
    flag_value="hardlink",
    help="Hard-link media to the store's objects: no space used, but the export then "
    "shares any damage of the store (see export.media in the config).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an export of the other format in DIR (html <-> markdown).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@pass_state
def command(
    state: CliState,
    out_dir: Path,
    fmt: str | None,
    conversations: tuple[str, ...],
    since: str | None,
    media: str | None,
    force: bool,
    as_json: bool,
) -> int:
    """Write one folder per conversation into DIR, with its page, its media and a manifest.

    Folders are named YYYY-MM-DD_<title>_<short id>; media files are reflinks of the
    store's objects where the filesystem has them (no space used) and copies otherwise,
    under readable names, so damage to the store never reaches an export (--hardlink
    trades that for space). DIR also gets index.html (or index.md) and media_index.json.
    Running it again rewrites only the conversations whose messages, links or media
    objects changed, and removes those the index lost. DIR must be new, empty, or an
    earlier export (of the other format only with --force).

    \b
    Exit status: 0 done, 1 some conversation (or the whole export, e.g. on a full
    disk) could not be written, 2 usage error (a bad option, a foreign DIR).
    """
    index = state.read_index
    app = state.app
    check_known(index, "conversation", conversations)
    since_epoch = _since(since) if since else None
    summary = export_archive(
        index,
        # Only read from: the export links or copies objects, it never adds any.
        app.store_for_reading(),
        app.config,
        out_dir,
        fmt=cast("ExportFormat | None", fmt),
        conversations=conversations,
        since=since_epoch,
        state_dir=app.state_dir,
        media=cast("MediaMode | None", media),
        replace_format=force,
    )
    if as_json:
        echo_json(summary.to_json())
    else:
        _print_summary(summary)
    return 1 if summary.failures else 0


def _print_summary(summary: ExportSummary) -> None:
    click.echo(
        f"exported {plural(summary.written, 'conversation')} to {summary.dir} "
        f"({summary.unchanged} unchanged, {summary.removed} removed, "
        f"{summary.files_cloned} files cloned, {summary.files_copied} copied, "
        f"{summary.files_linked} hard-linked) "
        f"in {summary.seconds:.2f} s"
    )
    if summary.users_written:
        click.echo(f"wrote trace pages for {plural(summary.users_written, 'user')}")
    if summary.files_missing:
        click.echo(
            f"{plural(summary.files_missing, 'file is', 'files are')} missing from the "
            "store (run `mediasyncd verify`)",
            err=True,
        )
    for failure in summary.failures:
        what = failure.get("conversation_id") or failure.get("user_id")
        click.echo(f"mediasyncd: export of {what} failed: {failure['error']}", err=True)


def _since(text: str) -> float:
    """A date (UTC unless it says otherwise) or a span back from now."""
    try:
        return parse_since(text)
    except ValueError:
        raise ExportError(
            f"--since {text!r}: expected a date (2024-05-01), a date-time or a span back from "
            "now (90s, 30m, 12h, 7d, 2w)"
        ) from None
