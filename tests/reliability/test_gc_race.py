"""`gc` racing an ingest (docs/reliability.md, scenario 10): an object an ingest has linked but
not yet recorded in a committed row must survive.

tests/store/test_gc.py shows `gc` waiting for the ingest lock. Here the race is run for real:
`mediasyncd gc --grace 0` (no age protection at all) in a loop of child processes while
`mediasyncd ingest` of every kind of drop runs in another, and the daemon with its own gc
every 0.2 s (grace 0) while drops arrive. Afterwards every row names an existing object
and the store and links equal those of an ingest that never met a gc.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import Ingester
from tests.daemon.support import DaemonProcess, query, wait_until
from tests.helpers import (
    REPO_ROOT,
    assert_store_consistent,
    content_objects,
    index_state,
    run_mediasyncd,
)
from tests.reliability.fullcorpus import links_snapshot, write_full_corpus


def _state(state_dir: Path) -> dict[str, Any]:
    app = App.load(state_dir=str(state_dir))
    try:
        assert_store_consistent(app.index, app.store)
        return {
            "objects": content_objects(app.store),
            "index": index_state(app.index, app.store),
            "links": links_snapshot(app.index),
        }
    finally:
        app.close()


def _reference(tmp_path: Path, drops: list[Path]) -> dict[str, Any]:
    app = App.load(state_dir=str(tmp_path / "reference"))
    try:
        Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths(drops)
    finally:
        app.close()
    return _state(tmp_path / "reference")


def test_gc_with_no_grace_racing_a_cli_ingest(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """gc --grace 0 again and again while an ingest runs: nothing the ingest names is
    removed, and the result equals an undisturbed ingest."""
    drops = write_full_corpus(tmp_path / "drops")
    state = tmp_path / "state"
    # An empty index first, so the first gc has one to read (`rematch` makes it; `status`
    # does not create a state dir).
    assert run_mediasyncd(["--state-dir", str(state), "rematch"]).returncode == 0
    ingest = subprocess.Popen(
        [sys.executable, "-m", "mediasyncd", "--state-dir", str(state), "ingest", *map(str, drops)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    runs = 0
    while ingest.poll() is None or runs < 3:
        done = run_mediasyncd(["--state-dir", str(state), "gc", "--grace", "0", "--json"])
        assert done.returncode == 0, done.stderr
        runs += 1
    _out, err = ingest.communicate(timeout=120)
    assert ingest.returncode == 0, err
    record_property("gc_runs", runs)
    assert _state(state) == _reference(tmp_path, drops)


@pytest.mark.slow
def test_daemon_gc_every_fraction_of_a_second_while_drops_arrive(
    tmp_path: Path, make_daemon: Callable[..., DaemonProcess], drop: Path
) -> None:
    """The daemon's own gc (grace 0, every 0.2 s) while the corpus is dropped in: every
    drop lands whole and nothing it stored is collected."""
    daemon = make_daemon(
        daemon={"gc_enabled": True, "gc_interval_seconds": 0.2, "gc_grace_seconds": 0.0}
    )
    daemon.start()
    daemon.wait_started()
    staged = write_full_corpus(tmp_path / "staging")
    targets = []
    for path in staged:
        target = drop / path.name
        path.rename(target)
        targets.append(target)
    wait_until(lambda: daemon.ok_count() == len(targets) or daemon.exited(), 120, what="drops")
    assert not daemon.exited(), daemon.log.read_text()[-3000:]
    wait_until(lambda: len(daemon.events("gc.done")) >= 3, 30, what="three gc runs")
    assert daemon.stop() == 0
    assert query(daemon.db, "SELECT COUNT(*) FROM sources WHERE state != 'ok'") == [(0,)]
    assert _state(daemon.state_dir) == _reference(tmp_path, targets)
