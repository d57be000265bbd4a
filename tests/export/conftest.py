"""Fixtures for the export tests: Debian's Chromium (installed here when missing) and a
headless browser driven over the DevTools protocol."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.export import ExportSummary, export_archive
from mediasyncd.ingest.pipeline import IngestSummary
from tests.export.browser import Chromium
from tests.support.export_builders import sample_export

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _find_chromium() -> Path | None:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    found = shutil.which("chromium")
    return Path(found) if found else None


def _install_chromium() -> str | None:
    """apt-get install Debian's chromium; returns why it could not, or None on success."""
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "not running as root, so apt-get cannot install it"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            done = subprocess.run(
                args, env=env, capture_output=True, text=True, timeout=1200, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{' '.join(args)}` failed: {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-800:]
            return f"`{' '.join(args)}` exited {done.returncode}: {tail}"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's /usr/bin/chromium, installed with apt-get when absent (CI is a fresh Debian
    machine running as root); the browser tests skip, with the reason, only when that
    install is impossible."""
    found = _find_chromium()
    if found is not None:
        return found
    why = _install_chromium()
    found = _find_chromium()
    if found is None:
        pytest.skip(f"Debian's chromium is not installed and cannot be: {why or 'not found'}")
    return found


@pytest.fixture
def browser(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """A fresh headless Chromium with an empty profile, closed after the test."""
    chrome = Chromium(chromium_path, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chrome
    finally:
        chrome.close()


@pytest.fixture
def sample(app: App, ingest: Callable[..., IngestSummary], tmp_path: Path) -> App:
    """An App whose index holds the sample export (tests/support/export_builders.py)."""
    summary = ingest(sample_export(tmp_path / "export.zip"))
    assert not summary.failures, summary.failures
    return app


@pytest.fixture
def export(sample: App, tmp_path: Path) -> Callable[..., ExportSummary]:
    """export(out=None, **options): export_archive on the sample into tmp_path/'out'."""

    def run(out: Path | None = None, **options: Any) -> ExportSummary:
        return export_archive(
            sample.index, sample.store, sample.config, out or tmp_path / "out", **options
        )

    return run
