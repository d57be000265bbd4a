"""The command line: parse options, build an App, call the library, word its errors.

`main()` returns the exit code (0 ok, 1 some source or object failed or the work could
not be done, 2 usage or configuration error only, 3 some drop ingested partially) so that
no traceback ever reaches the user for expected failures.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence

import click

from mediasyncd import __version__
from mediasyncd.cli.common import CliError, CliState
from mediasyncd.errors import MediasyncdError
from mediasyncd.index import engine

# Every command: name -> "module:attribute". Modules are imported only when their command
# runs (or help lists it), so `mediasyncd status` does not pay for the ingest machinery.
# To add a command, add a line here.
COMMANDS: dict[str, str] = {
    "ingest": "mediasyncd.cli.ingest:command",
    "status": "mediasyncd.cli.status:command",
    "verify": "mediasyncd.cli.verify:command",
    "matches": "mediasyncd.cli.matches:matches_command",
    "unresolved": "mediasyncd.cli.matches:unresolved_command",
    "rematch": "mediasyncd.cli.rematch:command",
    "reindex": "mediasyncd.cli.reindex:command",
    "run": "mediasyncd.cli.run:command",
    "gc": "mediasyncd.cli.gc:command",
    "export": "mediasyncd.cli.export:command",
    "migrate": "mediasyncd.cli.migrate:command",
}


# Commands that only read and print: they log nothing, so logging is not even set up.
QUIET_COMMANDS = frozenset({"status", "matches", "unresolved"})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attribute = COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
                raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $MEDIASYNCD_CONFIG, $XDG_CONFIG_HOME/mediasyncd/config.toml, "
    "/etc/mediasyncd/config.toml).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help="Where the store and index live (default: $MEDIASYNCD_STATE_DIR, the config's "
    "state_dir, $XDG_STATE_HOME/mediasyncd).",
)
@click.option("-v", "--verbose", count=True, help="Log progress events to stderr (-vv: debug).")
@click.version_option(__version__, prog_name="mediasyncd")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, state_dir: str | None, verbose: int) -> None:
    """mediasyncd keeps AI-chat archives whole: every image, voice clip and file stored once
    and linked to the conversation, message or trace it belongs to.

    \b
    Exit status:
      0  ok
      3  ingest: some drop was read only partly (its problems are listed), none failed
      1  a drop, an object or the work failed (a full disk included)
      2  usage or configuration error
    """
    ctx.obj = CliState(
        config_path, state_dir, verbose, logs=ctx.invoked_subcommand not in QUIET_COMMANDS
    )
    ctx.call_on_close(ctx.obj.close)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="mediasyncd",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except CliError as exc:
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except MediasyncdError as exc:
        click.echo(f"mediasyncd: error: {exc}", err=True)
        return exc.exit_code
    except OSError as exc:
        # The disk is full, a permission is missing: the work failed, not the command
        # line (a state dir that cannot be created is a ConfigError). The system's message
        # names the path, which is what the user needs.
        click.echo(f"mediasyncd: error: {describe_os_error(exc)}", err=True)
        return 1
    except engine.OPERATIONAL_ERRORS as exc:
        # The index refused a write (found by the disk-full tests: "database or disk is
        # full" after the store had used the last bytes). The transaction was rolled back;
        # one line, not a traceback.
        click.echo(f"mediasyncd: error: the index could not be written: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return int(result or 0)


def describe_os_error(exc: OSError) -> str:
    """`/proc/x: No such file or directory`, not `[Errno 2] No such file or ...: '/proc/x'`."""
    if exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
