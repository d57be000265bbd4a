"""Pieces of the service that need no running daemon: which folders are watched and what
in them is not a drop, and library warnings routed into the log (an inotify overflow
asks for a reconcile scan)."""

from __future__ import annotations

import logging
from pathlib import Path

from mediasyncd.config import Config, WatchConfig, parse_config
from mediasyncd.daemon.service import Daemon, _StdlibBridge, drop_folders


def test_default_drop_folder_is_in_the_state_dir(tmp_path: Path) -> None:
    """No folders configured: `<state>/drop`."""
    state = tmp_path / "state"
    (folder,) = drop_folders(Config(), state)
    assert folder.path == (state / "drop").resolve()


def test_relative_folders_are_relative_to_the_config(tmp_path: Path) -> None:
    """A relative drop folder is taken relative to the config file; duplicates collapse."""
    config_path = tmp_path / "etc" / "config.toml"
    config = parse_config('[watch]\nfolders = ["drops", "drops", "/srv/x"]\n', config_path)
    paths = [f.path for f in drop_folders(config, tmp_path / "state")]
    assert paths == [(tmp_path / "etc" / "drops").resolve(), Path("/srv/x")]


def test_done_folder_and_state_dir_inside_a_drop_folder_are_not_drops(tmp_path: Path) -> None:
    """`move` into <drop>/done, or a state dir inside the drop folder: excluded."""
    drop = tmp_path / "drop"
    config = Config(watch=WatchConfig(folders=[str(drop)], after_ingest="move", done_folder="done"))
    (folder,) = drop_folders(config, drop / ".state" / "inner")
    assert folder.exclude == frozenset({drop / "done", drop / ".state"})
    outside = Config(
        watch=WatchConfig(folders=[str(drop)], after_ingest="move", done_folder=str(tmp_path / "d"))
    )
    (folder,) = drop_folders(outside, tmp_path / "state")
    assert folder.exclude == frozenset()


def test_inotify_overflow_warning_requests_a_reconcile(tmp_path: Path) -> None:
    """watchdog's overflow warning (stdlib logging) makes the daemon rescan its folders."""
    daemon = Daemon(None, str(tmp_path / "state"))
    daemon._reconcile_requested = False
    bridge = _StdlibBridge(daemon)
    logger = logging.getLogger("watchdog.observers.inotify_c")
    logger.addHandler(bridge)
    try:
        logger.warning("Inotify queue overflowed; filesystem events were lost")
    finally:
        logger.removeHandler(bridge)
    assert daemon._reconcile_requested
