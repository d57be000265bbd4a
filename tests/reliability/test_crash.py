"""SIGKILL at every step of an ingest, then a clean re-run (docs/reliability.md, scenario 1).

Each case runs `python -m mediasyncd ingest` in a real child process with MEDIASYNCD_FAULT
naming a fault point, so the process dies by SIGKILL exactly there: no finally blocks, no
atexit, like an OOM kill or a power cut as far as the process is concerned. Then:
- right after the crash, every object under a real name re-hashes to its name and every
  index row names an object that exists (rows are committed only after objects are durable);
- a re-run without the fault exits 0 and leaves no temp file;
- the final store and index equal those of a run that was never interrupted.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.store import ObjectStore, documents
from mediasyncd.store.digest import digest_stream
from tests.helpers import (
    assert_store_consistent,
    content_objects,
    index_state,
    make_zip,
    media_bytes,
    run_mediasyncd,
    write_files,
)

FOLDER = {f"photos/{i:02}.jpg": media_bytes(40_000 + i, f"f{i}", "jpeg") for i in range(6)}
ZIPPED = {
    **{f"export/{i:02}.png": media_bytes(30_000 + i, f"z{i}") for i in range(5)},
    "export/same-as-folder.jpg": FOLDER["photos/00.jpg"],
}

# (point, n): die at the n-th time the point is reached. Counts put the kill in the middle
# of the run: the folder's objects come first, then the zip's (and each source's manifest).
FAULTS = [
    ("store.after_temp_write", 3),
    ("store.after_fsync", 5),
    ("store.after_link", 1),
    ("store.after_link", 9),
    ("ingest.after_source_row", 2),
    ("ingest.after_batch_commit", 1),
    ("ingest.before_rematch", 2),
]


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    folder = write_files(tmp_path / "drops" / "folder", FOLDER)
    archive = make_zip(tmp_path / "drops" / "export.zip", ZIPPED)
    return [folder, archive]


@pytest.fixture
def reference(tmp_path: Path, sources: list[Path]) -> dict[str, object]:
    """The store and index after an uninterrupted ingest of the same sources."""
    app = App.load(state_dir=str(tmp_path / "reference-state"))
    try:
        summary = Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths(sources)
        assert summary.failures == []
        return {"objects": content_objects(app.store), "index": index_state(app.index, app.store)}
    finally:
        app.close()


def _check_after_crash(state_dir: Path, point: str) -> None:
    """What must hold the moment after a SIGKILL, before anything repairs it."""
    temps = list((state_dir / "objects").glob("tmp-*"))
    # A kill inside a put leaves its temp file behind: the re-run must clear it.
    assert bool(temps) == point.startswith("store."), temps
    app = App.load(state_dir=str(state_dir))
    try:
        # Look at the store without App.store, which would clean the temp files up.
        objects = state_dir / "objects"
        for shard in objects.iterdir() if objects.exists() else []:
            if not shard.is_dir():
                continue
            for obj in shard.iterdir():
                form = obj.suffix if obj.suffix in documents.FORMS else ""
                raw = open(obj, "rb")  # noqa: SIM115 - closed with what reads it
                with documents.open_encoded(raw, form, ObjectStore(state_dir).open) as handle:
                    assert digest_stream(handle)[0] == shard.name + obj.stem
        for (digest,) in app.index.execute("SELECT digest FROM blobs"):
            assert ObjectStore(state_dir).has(digest), f"row names missing {digest}"
    finally:
        app.close()


@pytest.mark.parametrize(("point", "count"), FAULTS, ids=[f"{p}:{n}" for p, n in FAULTS])
def test_sigkill_then_rerun_equals_clean_run(
    tmp_path: Path,
    sources: list[Path],
    reference: dict[str, object],
    point: str,
    count: int,
) -> None:
    """Killed at `point`, then re-run: no temp files, every object re-hashes to its name,
    every row names an object, and the result equals an uninterrupted run."""
    state = tmp_path / "state"
    args = ["--state-dir", str(state), "ingest", "--json", *map(str, sources)]
    crashed = run_mediasyncd(args, env={"MEDIASYNCD_FAULT": f"{point}:{count}"})
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)
    _check_after_crash(state, point)

    rerun = run_mediasyncd(args)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["failures"] == []

    app = App.load(state_dir=str(state))
    try:
        assert_store_consistent(app.index, app.store)
        assert content_objects(app.store) == reference["objects"]
        assert index_state(app.index, app.store) == reference["index"]
        states = [r[0] for r in app.index.execute("SELECT state FROM sources")]
        assert states == ["ok", "ok"]
    finally:
        app.close()


def test_every_fault_point_is_reached(tmp_path: Path, sources: list[Path]) -> None:
    """Each named point really exists in the ingest path (a renamed point would make the
    crash tests above pass without crashing anything)."""
    for point in sorted({p for p, _ in FAULTS}):
        state = tmp_path / f"state-{point}"
        result = run_mediasyncd(
            ["--state-dir", str(state), "ingest", *map(str, sources)],
            env={"MEDIASYNCD_FAULT": point},
        )
        assert result.returncode == -signal.SIGKILL, point
