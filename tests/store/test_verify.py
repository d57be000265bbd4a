"""verify: re-hash the store; find flipped bits, truncations, missing and misnamed objects;
quarantine the damaged ones; name the sources that repair them."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.store.digest import digest_bytes
from mediasyncd.store.verify import Problem, verify_store
from tests.helpers import assert_store_consistent, make_zip, media_bytes, write_files

Ingest = Callable[..., IngestSummary]

FILES = {f"{i}.png": media_bytes(10_000 + i, f"v{i}") for i in range(6)}
DIGESTS = sorted(digest_bytes(d) for d in FILES.values())


@pytest.fixture
def drop(tmp_path: Path, ingest: Ingest) -> Path:
    folder = write_files(tmp_path / "drop", FILES)
    ingest(folder)
    return folder


def flip_bit(path: Path, offset: int = 1234) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    path.chmod(0o444)


def only(problems: list[Problem], kind: str) -> Problem:
    found = [p for p in problems if p.kind == kind]
    assert len(found) == 1, problems
    return found[0]


def test_clean_store_verifies(app: App, drop: Path) -> None:
    """An intact store: every object checked, no problem."""
    report = verify_store(app.index, app.store)
    assert report.ok and report.problems == []
    assert report.checked == len(list(app.store.iterate()))
    assert report.to_json()["ok"] is True


def test_flipped_bit_is_found_and_quarantined(app: App, drop: Path) -> None:
    """One flipped bit: reported as damaged with the source to re-drop, moved to
    quarantine/ (bytes kept for inspection), gone from objects/."""
    victim = DIGESTS[2]
    path = app.store.path_of(victim)
    flip_bit(path)
    damaged = path.read_bytes()
    report = verify_store(app.index, app.store)
    assert not report.ok
    problem = only(report.problems, "damaged")
    assert (problem.digest, problem.path) == (victim, str(path))
    assert problem.redrop == [str(drop.absolute())]
    assert problem.quarantined_to is not None
    assert Path(problem.quarantined_to).read_bytes() == damaged
    assert Path(problem.quarantined_to).parent == app.state_dir / "quarantine"
    assert not path.exists()
    assert len(report.problems) == 1


def test_truncated_object_is_classified(app: App, drop: Path) -> None:
    """An object shorter than its recorded size is 'truncated' (a 0-byte block after a
    power cut is the classic case)."""
    path = app.store.path_of(DIGESTS[0])
    path.chmod(0o644)
    path.write_bytes(b"")
    problem = only(verify_store(app.index, app.store).problems, "truncated")
    assert "0 bytes" in problem.detail and problem.quarantined_to


def test_missing_object_is_reported(app: App, drop: Path) -> None:
    """An object the index names but the store lacks is 'missing', with its source."""
    app.store.path_of(DIGESTS[1]).unlink()
    problem = only(verify_store(app.index, app.store).problems, "missing")
    assert problem.digest == DIGESTS[1]
    assert problem.redrop == [str(drop.absolute())]


def test_misnamed_object_is_moved_to_its_name(app: App, drop: Path) -> None:
    """Intact bytes under a name that is no digest are reported and moved back to their
    right place, after which the store is whole again."""
    right = app.store.path_of(DIGESTS[3])
    wrong = right.parent / "not-a-digest"
    right.rename(wrong)
    report = verify_store(app.index, app.store)
    problem = only(report.problems, "misnamed")
    assert problem.digest == DIGESTS[3] and "moved to its right name" in problem.detail
    assert right.is_file() and not wrong.exists()
    assert verify_store(app.index, app.store).ok
    assert_store_consistent(app.index, app.store)


def test_object_overwritten_by_another_is_misnamed_and_missing(app: App, drop: Path) -> None:
    """When one object's file lands on another's name, the moved object is misnamed (and
    put back) and the overwritten object is reported missing, with its source."""
    moved, lost = DIGESTS[4], DIGESTS[5]
    app.store.path_of(moved).replace(app.store.path_of(lost))
    report = verify_store(app.index, app.store)
    assert only(report.problems, "misnamed").digest == moved
    missing = only(report.problems, "missing")
    assert missing.digest == lost and missing.redrop == [str(drop.absolute())]
    assert app.store.has(moved)


def test_unknown_file_under_a_digest_name_is_quarantined(app: App, drop: Path) -> None:
    """A file with a valid-looking name whose bytes match nothing known is damaged."""
    stray = app.store.objects / "ff" / ("0" * 30)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"junk")
    problem = only(verify_store(app.index, app.store).problems, "damaged")
    assert problem.quarantined_to and not stray.exists()


def test_report_only_leaves_files_alone(app: App, drop: Path) -> None:
    """With quarantine=False the damage is reported but nothing is moved."""
    path = app.store.path_of(DIGESTS[0])
    flip_bit(path)
    report = verify_store(app.index, app.store, quarantine=False)
    problem = only(report.problems, "damaged")
    assert problem.quarantined_to is None and path.exists()


def test_sample_checks_a_fraction(app: App, drop: Path) -> None:
    """--sample re-hashes a random share of the objects."""
    total = len(list(app.store.iterate()))
    report = verify_store(app.index, app.store, sample=0.5, rng=random.Random(7))
    assert 0 < report.checked < total
    assert report.ok


def test_selected_digests_only(app: App, drop: Path) -> None:
    """verify_store(digests=...) checks just those (the daemon's scrub slices)."""
    flip_bit(app.store.path_of(DIGESTS[0]))
    report = verify_store(app.index, app.store, digests=[DIGESTS[1]])
    assert report.checked == 1 and report.ok


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_redropping_the_named_source_repairs(
    tmp_path: Path, app: App, ingest: Ingest, kind: str
) -> None:
    """Following the report's advice works: re-ingesting the named source, unchanged on
    disk, restores the quarantined object."""
    source = write_files(tmp_path / "drop", FILES)
    if kind == "zip":
        source = make_zip(tmp_path / "drop.zip", FILES)
        shutil.rmtree(tmp_path / "drop")
    ingest(source)
    flip_bit(app.store.path_of(DIGESTS[2]))
    report = verify_store(app.index, app.store)
    assert only(report.problems, "damaged").redrop == [str(source.absolute())]
    summary = ingest(source)
    assert summary.blobs_new == 1
    assert verify_store(app.index, app.store).ok
    assert_store_consistent(app.index, app.store)
