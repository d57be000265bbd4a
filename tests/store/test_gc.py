"""Garbage collection on a real store and index: what is removed, what the grace period
and the ingest lock keep (docs/reliability.md, scenario 10), and the `gc` command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.store.gc import collect_garbage
from mediasyncd.store.locks import ingest_lock
from tests.conftest import CliResult
from tests.daemon.support import wait_until
from tests.helpers import REPO_ROOT, assert_store_consistent, media_bytes, write_files

HOUR = 3600.0


def _age(app: App, digest: str, seconds: float) -> None:
    """Make an object look `seconds` old (its mtime is what the grace period reads)."""
    then = time.time() - seconds
    os.utime(app.store.path_of(digest), (then, then))


def _digests(app: App) -> set[str]:
    return {str(r[0]) for r in app.index.execute("SELECT digest FROM blobs")}


def _drop_one_member(
    tmp_path: Path, ingest: Callable[..., IngestSummary], app: App
) -> tuple[str, set[str]]:
    """Ingest a folder, then re-drop it without one file: that file's blob loses its last
    occurrence. Returns (that digest, the digests still referenced)."""
    files = {f"{i}.png": media_bytes(4000, f"gc{i}") for i in range(4)}
    drop = write_files(tmp_path / "drop" / "photos", files)
    ingest(drop)
    gone = app.store.hash_stream(io.BytesIO(files["3.png"])).digest
    (drop / "3.png").unlink()
    ingest(drop)
    referenced = {str(r[0]) for r in app.index.execute("SELECT DISTINCT digest FROM occurrences")}
    assert gone not in referenced
    return gone, referenced


def test_unreferenced_blob_removed_after_grace(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A blob no occurrence names goes (row, file cache, object) once older than the grace
    period; every referenced object stays and the store stays consistent."""
    gone, referenced = _drop_one_member(tmp_path, ingest, app)
    young = collect_garbage(app.index, app.store, grace_seconds=HOUR)
    # Kept: the file, and the first run's manifest (the second run's replaced it).
    assert young.objects_removed == 0 and young.kept_in_grace == 2
    assert app.store.has(gone)

    _age(app, gone, 2 * HOUR)
    report = collect_garbage(app.index, app.store, grace_seconds=HOUR)
    assert report.removed == [gone]
    assert report.blob_rows_removed == 1 and report.bytes_removed == 4000
    assert not app.store.has(gone)
    assert gone not in _digests(app)
    assert app.index.scalar("SELECT COUNT(*) FROM file_cache WHERE digest = ?", (gone,)) == 0
    for digest in referenced:
        assert app.store.has(digest)
    assert_store_consistent(app.index, app.store)


def test_loose_object_removed_after_grace(app: App) -> None:
    """An object with no blob row (an ingest killed before its commit) goes once old; a
    fresh one (an ingest about to commit its row) stays."""
    assert app.index is not None
    old = app.store.put_stream(io.BytesIO(media_bytes(1000, "old"))).digest
    fresh = app.store.put_stream(io.BytesIO(media_bytes(1000, "fresh"))).digest
    _age(app, old, 2 * HOUR)
    report = collect_garbage(app.index, app.store, grace_seconds=HOUR)
    assert report.removed == [old]
    assert report.blob_rows_removed == 0
    assert report.kept_in_grace == 1
    assert not app.store.has(old) and app.store.has(fresh)


def test_dry_run_changes_nothing(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """--dry-run reports what would go and leaves store and index as they were."""
    gone, _ = _drop_one_member(tmp_path, ingest, app)
    _age(app, gone, 2 * HOUR)
    before = _digests(app)
    report = collect_garbage(app.index, app.store, grace_seconds=HOUR, dry_run=True)
    assert report.removed == [gone] and report.dry_run
    assert app.store.has(gone) and _digests(app) == before


def test_manifests_and_matches_count_as_references(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """With grace 0 nothing that an occurrence, a match or a manifest names is removed."""
    ingest(write_files(tmp_path / "drop" / "a", {"x.png": media_bytes(500, "ref")}))
    every = {e.digest for e in app.store.iterate() if e.digest}
    report = collect_garbage(app.index, app.store, grace_seconds=0)
    assert report.objects_removed == 0
    assert {e.digest for e in app.store.iterate() if e.digest} == every


def test_cli_gc_waits_for_a_running_ingest(
    tmp_path: Path, app: App, state_dir: Path, run_cli: Callable[..., CliResult]
) -> None:
    """`mediasyncd gc` in another process waits while an ingest holds the lock (as the
    daemon's worker does during each drop) and only then removes the old loose object."""
    assert app.index is not None
    loose = app.store.put_stream(io.BytesIO(media_bytes(2000, "race"))).digest
    _age(app, loose, 2 * HOUR)
    lock_path = state_dir / "ingest.lock"
    with ingest_lock(state_dir, exclusive=False):
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mediasyncd",
                "--state-dir",
                str(state_dir),
                "gc",
                "--grace",
                "3600",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
        )

        def child_holds_lock_file() -> bool:
            fd_dir = Path(f"/proc/{child.pid}/fd")
            try:
                return any(str(fd.readlink()) == str(lock_path) for fd in fd_dir.iterdir())
            except OSError:
                return False

        wait_until(child_holds_lock_file, 30, what="gc to open the lock file")
        assert child.poll() is None  # waiting for the ingest
        assert app.store.has(loose)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert json.loads(out)["removed"] == [loose]
    assert not app.store.has(loose)
    dry = run_cli("gc", "--dry-run")
    assert dry.code == 0 and "would remove 0 objects" in dry.stdout
