"""Fixtures for tests that run the real daemon in a child process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.support import DaemonProcess, write_config


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """The drop folder the daemon watches."""
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def make_daemon(tmp_path: Path, drop: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """make_daemon(folders=None, name="d", **tables) -> a DaemonProcess (not started) with a
    fast config; every child is killed and reaped at teardown."""
    made: list[DaemonProcess] = []

    def build(folders: list[Path] | None = None, name: str = "d", **tables: Any) -> DaemonProcess:
        config = write_config(
            tmp_path / f"{name}.toml", [drop] if folders is None else folders, **tables
        )
        daemon = DaemonProcess(config, tmp_path / f"{name}-state", tmp_path / f"{name}.log")
        made.append(daemon)
        return daemon

    yield build
    for daemon in made:
        daemon.kill()
