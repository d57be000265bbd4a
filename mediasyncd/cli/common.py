"""What every command shares: the lazily built App and output helpers."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from mediasyncd.app import App


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

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = App.load(self.config_path, self.state_dir)
            if not self.logs:
                return self._app
            from mediasyncd.logconfig import configure_logging  # structlog: only when used

            level = {0: "warning", 1: "info"}.get(self.verbose, "debug")
            configure_logging(level, self._app.config.logging.format, stream=sys.stderr)
        return self._app

    def close(self) -> None:
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
