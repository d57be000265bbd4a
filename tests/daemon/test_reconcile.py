"""The reconcile scan: which top-level entries are drops, and which still need an ingest."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mediasyncd.app import App
from mediasyncd.daemon.reconcile import DropFolder, list_drops, needs_ingest, reconcile
from mediasyncd.index import jobs
from mediasyncd.ingest.fingerprint import fingerprint_of
from mediasyncd.ingest.pipeline import Ingester, IngestSummary
from tests.helpers import make_zip, media_bytes, write_files

IGNORE = ["*.part", ".*"]


def test_top_level_entries_are_the_drops(tmp_path: Path) -> None:
    """Files and folders at the top level are drops (a folder is one drop); temp names,
    excluded entries, symlinks and FIFOs are not."""
    drop = tmp_path / "drop"
    write_files(drop / "export", {"a/b/c.png": media_bytes(100, 1), "d.json": b"{}"})
    (drop / "photo.jpg").write_bytes(media_bytes(100, 2, "jpeg"))
    (drop / "big.zip.part").write_bytes(b"x")
    (drop / ".hidden").write_bytes(b"x")
    (drop / "done").mkdir()
    (drop / "link.jpg").symlink_to(drop / "photo.jpg")
    os.mkfifo(drop / "pipe")
    folder = DropFolder(drop, frozenset({drop / "done"}))
    assert list(list_drops(folder, IGNORE)) == [drop / "export", drop / "photo.jpg"]


def test_needs_ingest_rules(tmp_path: Path, app: App) -> None:
    """New drops need an ingest; landed or failed versions do not; a changed one does; a
    queued one is not queued twice; a failed job blocks only its own version."""
    drop = tmp_path / "drop"
    good = make_zip(drop / "good.zip", {"a.png": media_bytes(1000, 1)})
    bad = drop / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    index = app.index
    fp_good, _ = fingerprint_of(good)
    fp_bad, _ = fingerprint_of(bad)
    assert needs_ingest(index, good, fp_good)
    ingester = Ingester(index, app.store, app.config, app.state_dir)
    assert ingester.ingest_one(good, IngestSummary()) == "ok"
    assert ingester.ingest_one(bad, IngestSummary()) == "failed"
    assert not needs_ingest(index, good, fp_good)
    assert not needs_ingest(index, bad, fp_bad)
    assert needs_ingest(index, bad, "a-new-version")

    other = drop / "other.jpg"
    other.write_bytes(media_bytes(500, 3, "jpeg"))
    fp_other, _ = fingerprint_of(other)
    jobs.enqueue(index, str(other), fp_other)
    assert not needs_ingest(index, other, fp_other)
    job = jobs.claim(index)
    assert job is not None
    assert not needs_ingest(index, other, fp_other)  # running in this version
    assert needs_ingest(index, other, "changed-while-running")
    jobs.fail(index, job.id, "reader crashed")
    assert not needs_ingest(index, other, fp_other)
    assert needs_ingest(index, other, "changed-after-failing")


def test_reconcile_reports_unlistable_folders(
    tmp_path: Path, app: App, ingest: Callable[..., IngestSummary]
) -> None:
    """A missing folder is reported with its error; the others are still scanned."""
    drop = tmp_path / "drop"
    write_files(drop, {"a.png": media_bytes(10, 1), "b.png": media_bytes(10, 2)})
    ingest(drop / "a.png")
    wanted, problems = reconcile(
        app.index, [DropFolder(drop), DropFolder(tmp_path / "missing")], IGNORE
    )
    assert wanted == [drop / "b.png"]
    assert [(p, e) for p, e in problems] == [(tmp_path / "missing", "No such file or directory")]
