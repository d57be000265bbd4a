"""SIGKILL at every named fault point in the code, over a corpus with every kind of drop
(docs/reliability.md, scenario 1), in the CLI, in the daemon and in the export.

test_crash.py kills the CLI at each ingest point on plain drops. Here the drops are a
ChatGPT export, its privacy archive, an image dump and a Langfuse export, so the kills land
in every reader and rematch; the daemon is killed while processing them; and the export is
killed mid-run. After each kill and a restart: every object re-hashes to its name, every
row names an object, no temp file is left, and the store, index and links equal those of
an uninterrupted run. `test_every_fault_point_in_the_code_is_swept` greps the package for
`faults.point(` so a new point cannot be added without being swept.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.store import ObjectStore
from tests.daemon.support import DaemonProcess, query, wait_until
from tests.helpers import (
    REPO_ROOT,
    assert_store_consistent,
    content_objects,
    index_state,
    run_mediasyncd,
)
from tests.reliability.fullcorpus import links_snapshot, write_full_corpus

# (point, n): the n-th time the point is reached. First and a later hit of each, so a kill
# lands both before anything is committed and in the middle of the run.
INGEST_FAULTS = [
    ("store.after_temp_write", 1),
    ("store.after_temp_write", 25),
    ("store.after_fsync", 1),
    ("store.after_fsync", 40),
    ("store.after_link", 2),
    ("store.after_link", 30),
    ("store.after_batch_sync", 1),
    ("store.after_batch_sync", 3),
    ("ingest.after_source_row", 1),
    ("ingest.after_source_row", 3),
    ("ingest.after_batch_commit", 1),
    ("ingest.after_batch_commit", 4),
    ("ingest.before_rematch", 1),
    ("ingest.before_rematch", 4),
    # Inside the rematch's write transaction, links computed, none written yet.
    ("rematch.before_write", 1),
    ("rematch.before_write", 3),
    # Documents (issue 18): a conversation's compressed object, a recipe, and the plain
    # copy of a document dropped once its recipe is recorded.
    ("store.form_after_write", 1),
    ("store.form_after_write", 4),
    ("store.form_after_link", 2),
    ("documents.before_drop_plain", 1),
]
DAEMON_FAULTS = [
    ("store.after_temp_write", 10),
    ("store.after_fsync", 20),
    ("store.after_link", 30),
    ("store.after_batch_sync", 2),
    ("ingest.after_source_row", 2),
    ("ingest.after_batch_commit", 2),
    ("ingest.before_rematch", 3),
    ("rematch.before_write", 2),
    ("store.form_after_write", 3),
    ("store.form_after_link", 5),
    ("documents.before_drop_plain", 1),
]
# Points of the engines built for many machines, which this sweep (on one machine, the
# local store and SQLite) never reaches: each is killed at by the test named.
SWEPT_ELSEWHERE = {
    "store.s3.after_spool": "tests/store/test_s3_crash.py",
    "store.s3.mid_upload": "tests/store/test_s3_crash.py",
    "store.s3.after_upload": "tests/store/test_transfer.py",
    "store.s3.spool_to_disk": "tests/store/test_s3.py",
    "migrate.after_batch": "tests/index/test_transfer.py",
    # Killed in the helper process, not the ingest: the ingest finishes without it.
    "conversations.helper_reply": "tests/conversations/test_helper.py",
}
EXPORT_FAULTS = [("export.after_conversation", 1), ("export.after_conversation", 5)]
_POINT = re.compile(r"faults\.point\(\s*\"([^\"]+)\"\s*\)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The four drops, shared read-only by every test of this module (same paths, so the
    index rows of every run are comparable)."""
    return write_full_corpus(tmp_path_factory.mktemp("corpus") / "drops")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, corpus: list[Path]) -> dict[str, Any]:
    """Store, index and links after one uninterrupted ingest of the corpus."""
    state = tmp_path_factory.mktemp("reference") / "state"
    app = App.load(state_dir=str(state))
    try:
        summary = Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths(corpus)
        assert summary.failures == []
        return _final_state(app)
    finally:
        app.close()


def _final_state(app: App) -> dict[str, Any]:
    return {
        "objects": content_objects(app.store),
        "index": index_state(app.index, app.store),
        "links": links_snapshot(app.index),
    }


def _assert_equals_reference(state_dir: Path, reference: dict[str, Any]) -> None:
    app = App.load(state_dir=str(state_dir))
    try:
        assert_store_consistent(app.index, app.store)
        final = _final_state(app)
        assert final["objects"] == reference["objects"]
        assert final["index"] == reference["index"]
        assert final["links"] == reference["links"]
    finally:
        app.close()


def _assert_consistent_right_after_kill(state_dir: Path) -> None:
    """Before anything repairs it: objects under real names re-hash to them and every blob
    row names an existing object (temp files may be left; the restart clears them)."""
    db = state_dir / "index.db"
    # ObjectStore itself clears nothing; `has` sees a compressed object or a recipe too.
    store = ObjectStore(state_dir)
    for (digest,) in query(db, "SELECT digest FROM blobs"):
        assert store.has(digest), f"row names missing {digest}"


def fault_points_in_code() -> set[str]:
    found: set[str] = set()
    for path in (REPO_ROOT / "mediasyncd").rglob("*.py"):
        found.update(_POINT.findall(path.read_text()))
    return found


def test_every_fault_point_in_the_code_is_swept() -> None:
    """Each `faults.point(...)` name in the package is killed at by this sweep."""
    points = fault_points_in_code()
    assert len(points) >= 7, points
    swept = {p for p, _ in INGEST_FAULTS + EXPORT_FAULTS} | set(SWEPT_ELSEWHERE)
    assert points == swept, f"unswept: {points - swept}, stale: {swept - points}"
    for point, test in SWEPT_ELSEWHERE.items():
        assert point in (REPO_ROOT / test).read_text(), (point, test)
    daemon_points = {p for p in points if not p.startswith("export.")} - set(SWEPT_ELSEWHERE)
    assert {p for p, _ in DAEMON_FAULTS} == daemon_points


@pytest.mark.parametrize(
    ("point", "count"), INGEST_FAULTS, ids=[f"{p}:{n}" for p, n in INGEST_FAULTS]
)
def test_cli_killed_at_every_point_then_rerun_equals_clean_run(
    tmp_path: Path, corpus: list[Path], reference: dict[str, Any], point: str, count: int
) -> None:
    """`mediasyncd ingest` of every kind of drop, SIGKILLed at `point`, then re-run."""
    state = tmp_path / "state"
    args = ["--state-dir", str(state), "ingest", "--json", *map(str, corpus)]
    crashed = run_mediasyncd(args, env={"MEDIASYNCD_FAULT": f"{point}:{count}"})
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr[-2000:])
    _assert_consistent_right_after_kill(state)
    rerun = run_mediasyncd(args)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout)["failures"] == []
    _assert_equals_reference(state, reference)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "count"), DAEMON_FAULTS, ids=[f"{p}:{n}" for p, n in DAEMON_FAULTS]
)
def test_daemon_killed_while_processing_then_restarted_equals_clean_run(
    make_daemon: Callable[..., DaemonProcess],
    corpus: list[Path],
    reference: dict[str, Any],
    point: str,
    count: int,
) -> None:
    """The daemon watching a folder with every kind of drop is SIGKILLed at `point` while
    processing them; restarted, it finishes and ends in the state of a clean run."""
    daemon = make_daemon(folders=[corpus[0].parent])
    daemon.start(env={"MEDIASYNCD_FAULT": f"{point}:{count}"})
    assert daemon.proc is not None
    assert daemon.proc.wait(timeout=120) == -signal.SIGKILL, daemon.log.read_text()[-3000:]
    _assert_consistent_right_after_kill(daemon.state_dir)
    daemon.start()
    wait_until(lambda: daemon.ok_count() == len(corpus) or daemon.exited(), 120, what="resume")
    assert not daemon.exited(), daemon.log.read_text()[-3000:]
    wait_until(
        lambda: not query(daemon.db, "SELECT id FROM jobs WHERE state IN ('queued', 'running')"),
        60,
        what="an idle queue",
    )
    assert daemon.stop() == 0
    _assert_equals_reference(daemon.state_dir, reference)


def _tree_digest(root: Path) -> dict[str, str]:
    """Every file of an export with a hash of its bytes."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, corpus: list[Path]) -> Path:
    """A state dir holding the whole corpus, for the export kills."""
    state = tmp_path_factory.mktemp("exported") / "state"
    done = run_mediasyncd(["--state-dir", str(state), "ingest", *map(str, corpus)])
    assert done.returncode == 0, done.stderr
    return state


@pytest.mark.parametrize(
    ("point", "count"), EXPORT_FAULTS, ids=[f"{p}:{n}" for p, n in EXPORT_FAULTS]
)
def test_export_killed_then_rerun_equals_clean_export(
    tmp_path: Path, ingested: Path, point: str, count: int
) -> None:
    """`mediasyncd export` SIGKILLed after a conversation, then re-run: the same files with
    the same bytes as an export that was never interrupted."""
    clean = tmp_path / "clean"
    assert run_mediasyncd(["--state-dir", str(ingested), "export", str(clean)]).returncode == 0
    out = tmp_path / "out"
    args = ["--state-dir", str(ingested), "export", str(out)]
    killed = run_mediasyncd(args, env={"MEDIASYNCD_FAULT": f"{point}:{count}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    rerun = run_mediasyncd(args)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _tree_digest(out) == _tree_digest(clean)
