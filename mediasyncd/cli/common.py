"""What every command shares: the lazily built App, the index for reading, errors worded
for people, and output helpers."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from mediasyncd.app import App
from mediasyncd.index import Index


class CliError(click.ClickException):
    """A mistake worth one line on stderr (an unknown id, no state dir): not a traceback,
    not the usage text."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"mediasyncd: error: {self.format_message()}", err=True)


class StateDirError(CliError):
    """No state dir where one must be, or one this user may not read (exit 2: the
    --state-dir or the config is what is wrong)."""

    exit_code = 2


class CliState:
    def __init__(
        self,
        config_path: str | None,
        state_dir: str | None,
        verbose: int,
        *,
        logs: bool = True,
    ):
        self.config_path = config_path
        self.state_dir = state_dir
        self.verbose = verbose
        # Report-only commands log nothing; skipping structlog's setup (and import) keeps
        # `status` and `matches` quick.
        self.logs = logs or verbose > 0
        self._app: App | None = None
        self._read_index: Index | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = App.load(self.config_path, self.state_dir)
            if not self.logs:
                return self._app
            from mediasyncd.logconfig import configure_logging  # structlog: only when used

            # Without -v the command's own output says what went wrong, once per
            # problem, in words; the structured log (JSON when stderr is not a terminal)
            # is for -v, and for the daemon's journal.
            level = {0: "off", 1: "info"}.get(self.verbose, "debug")
            configure_logging(level, self._app.config.logging.format, stream=sys.stderr)
        return self._app

    def command_prefix(self) -> str:
        """`mediasyncd [--config C] [--state-dir S]` as this command was run, for hints."""
        words = ["mediasyncd"]
        if self.config_path:
            words += ["--config", self.config_path]
        if self.state_dir:
            words += ["--state-dir", self.state_dir]
        return " ".join(words)

    def require_state_dir(self) -> App:
        """The App of a command that must not create a state dir (status, matches,
        unresolved, export, verify): one that does not exist is an error saying how to
        make one, and one this user cannot read is an error saying who can."""
        app = self.app
        if app.location.is_postgres:
            # The index is the database's; the state dir holds only this machine's caches.
            return app
        command = click.get_current_context().info_name or "status"
        try:
            present = app.index_path.is_file()
        except PermissionError:
            raise StateDirError(
                f"cannot read the state dir {app.state_dir}: permission denied. Run the "
                "command as the user that owns it, or as root: "
                f"`sudo {self.command_prefix()} {command}` (the system service keeps its "
                "state in /var/lib/private/mediasyncd, readable by root only)"
            ) from None
        if not present:
            where = "there is no state dir at" if not app.state_dir.exists() else "no index in"
            raise StateDirError(
                f"{where} {app.state_dir}: nothing has been ingested there. To make one, "
                f"ingest a drop (`{self.command_prefix()} ingest PATH`) or start the daemon "
                f"(`{self.command_prefix()} run`) and drop files into its drop folder"
            )
        return app

    @property
    def read_index(self) -> Index:
        """The index for a command that only reads: opened read-only, creating nothing
        (not even in a state dir owned by the service's user, or on a read-only mount)."""
        if self._read_index is None:
            app = self.require_state_dir()
            self._read_index = app.connect_for_reading()
        return self._read_index

    def close(self) -> None:
        if self._read_index is not None:
            self._read_index.close()
        if self._app is not None:
            self._app.close()


pass_state = click.make_pass_decorator(CliState)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def write_records(records: Iterable[dict[str, Any]], fmt: str, columns: Sequence[str]) -> int:
    """Print records as jsonl, csv or an aligned table; returns how many were printed."""
    count = 0
    out = sys.stdout
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, default=str) + "\n")
            count += 1
        return count
    if fmt == "csv":
        writer = csv.DictWriter(
            out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for record in records:
            writer.writerow({k: _cell(record.get(k)) for k in columns})
            count += 1
        return count
    rows = [[_cell(r.get(c)) for c in columns] for r in records]
    widths = [max([len(c)] + [min(len(row[i]), 60) for row in rows]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        cells = [_clip(v, w).ljust(w) for v, w in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")
    return len(rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl", "csv"]),
    default="table",
    show_default=True,
    help="Output format.",
)
