"""Docs are tested: every command and option has help text and a README section."""

from __future__ import annotations

import re

import click
import pytest

from mediasyncd.cli import cli
from tests.helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
CONTEXT = click.Context(cli)
COMMANDS = cli.list_commands(CONTEXT)


def test_there_are_commands() -> None:
    """The foundation's commands are registered."""
    assert {"ingest", "status", "verify"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_text(name: str) -> None:
    """Each command explains itself in `--help`, and so does each of its options."""
    command = cli.get_command(CONTEXT, name)
    assert command is not None
    assert (command.help or "").strip(), f"{name} has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"{name} {param.opts} has no help text"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_a_readme_section(name: str) -> None:
    """README's "Command line" part has a ### heading for each command."""
    assert re.search(rf"^### `mediasyncd {re.escape(name)}\b", README, re.MULTILINE), (
        f"README.md has no '### `mediasyncd {name} …`' section"
    )


def test_global_options_have_help() -> None:
    """--config, --state-dir and -v are explained."""
    for param in cli.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), param.opts
