"""`mediasyncd run`: the daemon, in the foreground (systemd runs it)."""

from __future__ import annotations

import click

from mediasyncd.cli.common import CliState, pass_state


@click.command("run")
@pass_state
def command(state: CliState) -> int:
    """Watch the drop folders and ingest every drop once it is complete.

    Runs in the foreground until SIGTERM (exit 0); SIGHUP reloads the config. Logs one
    JSON object per line to stdout when not on a terminal (journald keeps them). With no
    `watch.folders` configured it watches `<state dir>/drop`. Under systemd it speaks the
    notify protocol (READY, STATUS, WATCHDOG).
    """
    from mediasyncd.daemon.service import run_daemon

    level = "debug" if state.verbose >= 2 else None
    return run_daemon(state.config_path, state.state_dir, log_level=level)
