"""The ingest pipeline on real folders and zips: idempotence, the file cache, changes while
hashing, concurrency with readers, interruption, and every kind of bad input."""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from mediasyncd.app import App
from mediasyncd.config import Config, IndexConfig
from mediasyncd.ingest.pipeline import CHANGE_ATTEMPTS, Ingester, IngestSummary
from mediasyncd.sources.plain import PlainMediaHandler
from mediasyncd.store import ObjectStore, PutResult, SizeLimit
from mediasyncd.store.digest import digest_bytes
from mediasyncd.store.manifest import MANIFEST_MEMBER, is_manifest
from tests.conftest import config_with
from tests.engines import BOTH
from tests.helpers import (
    INGEST_JSON_KEYS,
    assert_store_consistent,
    content_objects,
    index_state,
    make_zip,
    media_bytes,
    patch_bytes,
    set_central_field,
    symlink_info,
    tree_snapshot,
    write_files,
    zip_bytes,
)

pytestmark = BOTH

Ingest = Callable[..., IngestSummary]

FILES = {
    "a.png": media_bytes(20_000, "a"),
    "b.jpg": media_bytes(30_000, "b", "jpeg"),
    "sub/c.wav": media_bytes(5_000, "c", "wav"),
    "sub/copy-of-a.png": media_bytes(20_000, "a"),  # same bytes as a.png
    "notes.txt": b"just some text\n",
}
DISTINCT = 4  # a.png and its copy share one object


def object_files(app: App) -> set[str]:
    """Content objects (source manifests left out: see tests.helpers.manifest_digests)."""
    return content_objects(app.store)


def occurrences(app: App) -> dict[str, str]:
    """member -> digest of every occurrence except the sources' manifests."""
    return dict(
        app.index.execute(
            "SELECT member, digest FROM occurrences WHERE member != ?", (MANIFEST_MEMBER,)
        ).fetchall()
    )


def rows(app: App, table: str) -> int:
    return int(app.index.scalar(f"SELECT COUNT(*) FROM {table}"))


def source_row(app: App, path: Path) -> tuple[str, str | None]:
    row = app.index.execute(
        "SELECT state, error FROM sources WHERE path = ?", (str(path.absolute()),)
    ).fetchone()
    assert row is not None, f"no source row for {path}"
    return row[0], row[1]


# -- the happy path --------------------------------------------------------------------


def test_folder_ingest_stores_and_records(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """Every file becomes an object and an occurrence; duplicates share one object; media
    files get a filename key; the source is ok."""
    drop = write_files(tmp_path / "drop", FILES)
    summary = ingest(drop)
    assert summary.blobs_new == DISTINCT
    assert summary.blobs_deduplicated == 1
    assert summary.bytes_new == sum(len(v) for k, v in FILES.items() if k != "sub/copy-of-a.png")
    assert summary.failures == []
    assert summary.sources == [
        {"path": str(drop.absolute()), "kind": "plain", "state": "ok", "problems": [], "notes": []}
    ]
    assert source_row(app, drop) == ("ok", None)
    assert occurrences(app) == {name: digest_bytes(data) for name, data in FILES.items()}
    mimes = dict(app.index.execute("SELECT digest, mime FROM blobs").fetchall())
    assert mimes[digest_bytes(FILES["sub/c.wav"])] == "audio/wav"
    keys = {r[0] for r in app.index.execute("SELECT key FROM occurrence_keys")}
    assert {"a.png", "b.jpg", "c.wav", "notes.txt"} <= keys
    assert_store_consistent(app.index, app.store)


def test_zip_and_folder_of_the_same_files_share_objects(
    tmp_path: Path, app: App, ingest: Ingest
) -> None:
    """A zip of files already stored from a folder writes no new object."""
    drop = write_files(tmp_path / "drop", FILES)
    ingest(drop)
    before = object_files(app)
    archive = make_zip(tmp_path / "drop.zip", FILES)
    summary = ingest(archive)
    assert summary.blobs_new == 0 and summary.blobs_deduplicated == len(FILES)
    assert object_files(app) == before
    assert len(occurrences(app)) == len(FILES)
    assert rows(app, "occurrences") == 2 * (len(FILES) + 1)  # + each source's manifest


def test_single_file_drop(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """A single dropped image is one occurrence named after the file."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media_bytes(10_000, kind="jpeg"))
    summary = ingest(photo)
    assert summary.blobs_new == 1
    assert occurrences(app) == {"photo.jpg": digest_bytes(photo.read_bytes())}


def test_summary_json_has_the_contract_keys(tmp_path: Path, ingest: Ingest) -> None:
    """The --json summary carries exactly the contract's keys (plus per-source detail),
    in the contract's order."""
    summary = ingest(write_files(tmp_path / "drop", FILES)).to_json()
    assert tuple(summary) == INGEST_JSON_KEYS
    assert isinstance(summary["seconds"], float)


# -- idempotence ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_same_source_twice_changes_nothing(
    tmp_path: Path, app: App, ingest: Ingest, kind: str
) -> None:
    """Ingesting the same source again writes no object and no row: it is skipped."""
    source = write_files(tmp_path / "drop", FILES)
    if kind == "zip":
        source = make_zip(tmp_path / "drop.zip", FILES)
    ingest(source)
    objects, state = object_files(app), index_state(app.index, app.store)
    again = ingest(source)
    assert again.blobs_new == 0 and again.sources[0]["unchanged"] is True
    assert object_files(app) == objects
    assert index_state(app.index, app.store) == state


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_touched_source_is_rewalked_without_duplicates(
    tmp_path: Path, app: App, ingest: Ingest, kind: str
) -> None:
    """A source whose mtime changed but whose content did not is read again: every member
    is a hit, no object is written and no row is duplicated."""
    source = write_files(tmp_path / "drop", FILES)
    if kind == "zip":
        source = make_zip(tmp_path / "drop.zip", FILES)
    ingest(source)
    objects, state = object_files(app), index_state(app.index, app.store)
    later = time.time() + 10
    for path in [source, *source.rglob("*")]:
        os.utime(path, (later, later))
    again = ingest(source)
    assert again.sources[0].get("unchanged") is None
    assert again.blobs_new == 0
    assert again.blobs_deduplicated == len(FILES)
    assert object_files(app) == objects
    assert index_state(app.index, app.store) == state


def test_copy_of_a_zip_at_another_path_writes_no_object(
    tmp_path: Path, app: App, ingest: Ingest
) -> None:
    """The same zip dropped under another name is a new source but writes no new object."""
    first = make_zip(tmp_path / "export.zip", FILES)
    ingest(first)
    objects = object_files(app)
    copy = tmp_path / "elsewhere" / "export (1).zip"
    copy.parent.mkdir()
    shutil.copy2(first, copy)
    summary = ingest(copy)
    assert summary.blobs_new == 0 and summary.blobs_deduplicated == len(FILES)
    assert object_files(app) == objects
    assert rows(app, "sources") == 2
    assert len(set(occurrences(app).values())) == DISTINCT


def test_removed_and_changed_members_are_updated(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """A member gone from a source loses its occurrence; a member with new bytes points at
    the new object (the old object stays in the store)."""
    drop = write_files(tmp_path / "drop", FILES)
    ingest(drop)
    (drop / "b.jpg").unlink()
    (drop / "a.png").write_bytes(media_bytes(21_000, "new a"))
    summary = ingest(drop)
    assert summary.blobs_new == 1
    found = occurrences(app)
    assert "b.jpg" not in found
    assert found["a.png"] == digest_bytes(media_bytes(21_000, "new a"))
    assert app.store.has(digest_bytes(FILES["b.jpg"]))


# -- the file cache ---------------------------------------------------------------------


class CountingStore(ObjectStore):
    """A real store that counts how often bytes were hashed (put or hash-only)."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.hashed: list[int] = []

    def put_stream(self, stream: BinaryIO, **kwargs: Any) -> PutResult:
        result = super().put_stream(stream, **kwargs)
        with self.open(result.digest) as handle:
            if not is_manifest(handle.read(64)):
                self.hashed.append(result.size)
        return result

    def hash_stream(self, stream: BinaryIO, **kwargs: Any) -> PutResult:
        result = super().hash_stream(stream, **kwargs)
        self.hashed.append(result.size)
        return result


def test_unchanged_files_are_not_rehashed(tmp_path: Path, app: App) -> None:
    """After a folder changes, only its new and modified files are read again: unchanged
    files (same device, inode, size, mtime) come from the file cache."""
    store = CountingStore(app.state_dir)
    ingester = Ingester(app.index, store, app.config, app.state_dir)
    drop = write_files(tmp_path / "drop", FILES)
    ingester.ingest_paths([drop])
    assert len(store.hashed) == len(FILES)
    assert rows(app, "file_cache") == len(FILES)

    store.hashed.clear()
    (drop / "new.gif").write_bytes(media_bytes(777, "new", "gif"))
    summary = ingester.ingest_paths([drop])
    assert store.hashed == [777]
    assert summary.blobs_new == 1 and summary.blobs_deduplicated == len(FILES)

    store.hashed.clear()
    (drop / "b.jpg").write_bytes(media_bytes(30_001, "b2", "jpeg"))
    ingester.ingest_paths([drop])
    assert store.hashed == [30_001]
    cached = app.index.execute(
        "SELECT digest FROM file_cache WHERE path = ?", (str((drop / "b.jpg").absolute()),)
    ).fetchone()
    assert cached == (digest_bytes(media_bytes(30_001, "b2", "jpeg")),)


def test_cache_is_not_trusted_when_the_object_is_gone(tmp_path: Path, app: App) -> None:
    """A cached digest whose object was lost (quarantined) is re-read and re-stored."""
    store = CountingStore(app.state_dir)
    ingester = Ingester(app.index, store, app.config, app.state_dir)
    drop = write_files(tmp_path / "drop", {"a.png": FILES["a.png"]})
    ingester.ingest_paths([drop])
    digest = digest_bytes(FILES["a.png"])
    store.quarantine_object(store.path_of(digest), "test")
    (drop / "other.png").write_bytes(media_bytes(10, "o"))  # the folder changed: re-walk
    summary = ingester.ingest_paths([drop])
    assert summary.blobs_new == 2
    assert store.has(digest)


class MutatingStore(ObjectStore):
    """Appends to `victim` while its bytes are being stored (`times` times)."""

    def __init__(self, root: Path, victim: Path, times: int = 1):
        super().__init__(root)
        self.victim = victim
        self.times = times

    def put_stream(self, stream: BinaryIO, **kwargs: Any) -> PutResult:
        limit = kwargs.get("limit")
        if self.times and limit is not None and limit.member == self.victim.name:
            self.times -= 1
            with open(self.victim, "ab") as handle:
                handle.write(b"appended while hashing")
        return super().put_stream(stream, **kwargs)


def test_file_changed_while_hashed_is_retried_without_partial_rows(
    tmp_path: Path, app: App
) -> None:
    """A file that changes while it is hashed is not recorded with the bytes of the moment:
    the drop is read again at once, and only the final bytes are recorded (no occurrence or
    cache row names the torn read)."""
    drop = write_files(tmp_path / "drop", FILES)
    victim = drop / "b.jpg"
    store = MutatingStore(app.state_dir, victim)
    summary = Ingester(app.index, store, app.config, app.state_dir).ingest_paths([drop])
    assert summary.sources == [
        {"path": str(drop.absolute()), "kind": "plain", "state": "ok", "problems": [], "notes": []}
    ]
    assert summary.failures == []
    torn = digest_bytes(FILES["b.jpg"])
    recorded = {r[0] for r in app.index.execute("SELECT digest FROM occurrences")}
    recorded |= {r[0] for r in app.index.execute("SELECT digest FROM file_cache")}
    assert torn not in recorded
    found = occurrences(app)
    assert found["b.jpg"] == digest_bytes(victim.read_bytes())
    assert len(found) == len(FILES)
    assert source_row(app, drop) == ("ok", None)
    assert_store_consistent(app.index, store)


def test_file_that_keeps_changing_is_left_pending(tmp_path: Path, app: App) -> None:
    """A file still being written after every retry leaves the drop pending with no
    fingerprint (so the next run reads it whole), named in one failure; a later run, once
    the file is quiet, lands it."""
    drop = write_files(tmp_path / "drop", FILES)
    victim = drop / "b.jpg"
    store = MutatingStore(app.state_dir, victim, times=CHANGE_ATTEMPTS)
    ingester = Ingester(app.index, store, app.config, app.state_dir)
    summary = ingester.ingest_paths([drop])
    assert [s["state"] for s in summary.sources] == ["pending"]
    assert summary.exit_code == 1
    assert [(f.member, "changed while it was hashed" in f.error) for f in summary.failures] == [
        ("b.jpg", True)
    ]
    assert app.index.scalar("SELECT fingerprint FROM sources") is None
    assert "b.jpg" not in occurrences(app)
    after = ingester.ingest_paths([drop], retry_failed=False)
    assert after.sources[0]["state"] == "ok"
    assert occurrences(app)["b.jpg"] == digest_bytes(victim.read_bytes())


# -- readers and writers ---------------------------------------------------------------


def test_reader_holding_a_transaction_does_not_block_ingest(
    tmp_path: Path, make_app: Callable[..., App]
) -> None:
    """A CLI holding a long read transaction does not make an ingest fail with 'database is
    locked' (WAL), and it keeps its snapshot until it ends."""
    app = make_app(Config(index=IndexConfig(busy_timeout_ms=200)))
    app.index  # noqa: B018 - create and migrate before the reader opens it
    reader = app.connect_for_reading()
    try:
        with reader.read():
            assert reader.scalar("SELECT COUNT(*) FROM blobs") == 0
            drop = write_files(
                tmp_path / "drop", {f"{i}.png": media_bytes(1000, i) for i in range(600)}
            )
            summary = Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([drop])
            assert summary.failures == [] and summary.blobs_new == 600
            assert reader.scalar("SELECT COUNT(*) FROM blobs") == 0
        assert reader.scalar("SELECT COUNT(*) FROM blobs WHERE kind = 'image'") == 600
    finally:
        reader.close()


def test_shutdown_request_leaves_the_source_to_resume(tmp_path: Path, app: App) -> None:
    """A daemon shutdown mid-source leaves it pending (not failed), so the next start,
    which does not retry failed sources, picks it up and finishes it."""
    drop = write_files(tmp_path / "drop", FILES)
    stopping = Ingester(app.index, app.store, app.config, app.state_dir, should_stop=lambda: True)
    summary = stopping.ingest_paths([drop])
    assert summary.sources[0]["state"] == "pending"
    assert "shutdown" in summary.failures[0].error
    resumed = Ingester(app.index, app.store, app.config, app.state_dir)
    after = resumed.ingest_paths([drop], retry_failed=False)
    assert after.sources[0]["state"] == "ok"
    assert len(occurrences(app)) == len(FILES)


# -- bad input ------------------------------------------------------------------------------


class ExpandingHandler(PlainMediaHandler):
    """A handler that reads into every nested zip (as the privacy-archive reader does)."""

    kind = "expanding"

    def expand(self, path: str) -> bool:
        return True


def _nested_zip(depth: int) -> bytes:
    data = zip_bytes({"deep.png": b"\x89PNG deep"})
    for level in range(depth, 0, -1):
        data = zip_bytes({f"level{level}.zip": data, f"l{level}.png": media_bytes(99, level)})
    return data


GOOD = {"good1.png": media_bytes(3000, "g1"), "good2.jpg": media_bytes(4000, "g2", "jpeg")}


def _zip_with(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], **kw: Any) -> Path:
    return make_zip(path, [*entries, *GOOD.items()], **kw)


def _nul(path: Path) -> Path:
    _zip_with(path, [("evilXname.png", b"evil")])
    patch_bytes(path, b"evilXname", b"evil\x00name", expected=2)
    return path


def _overlap(path: Path) -> Path:
    make_zip(path, {"a.png": media_bytes(9000, 1), **GOOD}, compression=zipfile.ZIP_STORED)
    set_central_field(path, b"good1.png", "header_offset", 0)
    return path


def _damaged_member(path: Path) -> Path:
    make_zip(path, {"bad.png": b"\x89PNG" + b"abc" * 20_000, **GOOD})
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # inside bad.png's deflate stream (header 30 + name 7)
    path.write_bytes(bytes(data))
    return path


def _truncated(path: Path) -> Path:
    full = make_zip(path, GOOD).read_bytes()
    path.write_bytes(full[: len(full) // 2])
    return path


def _lying_size(path: Path) -> Path:
    """A member whose headers declare fewer bytes than it really has."""
    payload = media_bytes(5000, "liar")
    make_zip(path, {"liar.png": payload, **GOOD}, compression=zipfile.ZIP_STORED)
    size = (5000).to_bytes(4, "little")
    patch_bytes(path, size + size, (100).to_bytes(4, "little") * 2)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _folder_with_symlink(path: Path) -> Path:
    write_files(path, GOOD)
    (path / "link.png").symlink_to(path.parent / "outside.txt")
    (path.parent / "outside.txt").write_text("secret")
    return path


# (id, builder(tmp dir) -> source, config changes, source state, member, error text)
BAD_INPUTS: list[tuple[str, Callable[[Path], Path], dict[str, int], str, str | None, str]] = [
    ("missing", lambda d: d / "missing.zip", {}, "failed", None, "cannot read"),
    (
        "truncated",
        lambda d: _truncated(d / "t.zip"),
        {},
        "failed",
        None,
        "truncated or damaged zip",
    ),
    (
        "not-a-zip",
        lambda d: _write(d / "fake.zip", b"hello, not a zip"),
        {},
        "failed",
        None,
        "not a zip",
    ),
    ("empty", lambda d: _write(d / "empty.zip", b""), {}, "failed", None, "empty file"),
    (
        "dotdot",
        lambda d: _zip_with(d / "z.zip", [("../../evil.png", b"x")]),
        {},
        "partial",
        "../../evil.png",
        "'..'",
    ),
    (
        "absolute",
        lambda d: _zip_with(d / "z.zip", [("/tmp/evil.png", b"x")]),
        {},
        "partial",
        "/tmp/evil.png",
        "absolute",
    ),
    (
        "backslash",
        lambda d: _zip_with(d / "z.zip", [("..\\evil.png", b"x")]),
        {},
        "partial",
        "..\\evil.png",
        "backslash",
    ),
    ("nul", lambda d: _nul(d / "z.zip"), {}, "partial", "evil\\x00name.png", "NUL"),
    (
        "symlink-member",
        lambda d: _zip_with(d / "z.zip", [(symlink_info("ln.png"), b"/etc/passwd")]),
        {},
        "partial",
        "ln.png",
        "symbolic link",
    ),
    (
        "symlink-in-folder",
        lambda d: _folder_with_symlink(d / "drop"),
        {},
        "partial",
        "link.png",
        "symbolic link",
    ),
    (
        "duplicate",
        lambda d: _zip_with(d / "z.zip", [("good1.png", b"\x89PNG other")]),
        {},
        "partial",
        "good1.png",
        "duplicate member name",
    ),
    (
        "member-bytes-zip",
        lambda d: _zip_with(d / "z.zip", [("big.png", media_bytes(9000, "big"))]),
        {"max_member_bytes": 5000},
        "partial",
        "big.png",
        "limits.max_member_bytes",
    ),
    (
        "member-bytes-folder",
        lambda d: write_files(d / "drop", {"big.png": media_bytes(9000, "big"), **GOOD}),
        {"max_member_bytes": 5000},
        "partial",
        "big.png",
        "limits.max_member_bytes",
    ),
    (
        "ratio",
        lambda d: _zip_with(d / "z.zip", [("zeros.bin", bytes(2 * 1024 * 1024))]),
        {},
        "partial",
        "zeros.bin",
        "limits.max_ratio",
    ),
    (
        "total",
        lambda d: make_zip(d / "z.zip", {**GOOD, "third.png": media_bytes(5000, "3")}),
        {"max_total_bytes": 7500},
        "partial",
        "third.png",
        "limits.max_total_bytes",
    ),
    ("overlap", lambda d: _overlap(d / "z.zip"), {}, "failed", None, "overlap"),
    (
        "damaged-member",
        lambda d: _damaged_member(d / "z.zip"),
        {},
        "partial",
        "bad.png",
        "cannot read member",
    ),
    (
        "lying-size",
        lambda d: _lying_size(d / "z.zip"),
        {},
        "partial",
        "liar.png",
        "cannot read member",
    ),
    (
        "too-deep",
        lambda d: _write(d / "deep.zip", _nested_zip(3)),
        {"max_nesting_depth": 2},
        "partial",
        "level1.zip!/level2.zip!/level3.zip",
        "max_nesting_depth",
    ),
    (
        "damaged-nested",
        lambda d: _zip_with(d / "n.zip", [("inner.zip", b"PK\x03\x04garbage")]),
        {},
        "partial",
        "inner.zip",
        "damaged zip",
    ),
]


@pytest.mark.parametrize(
    ("build", "limits", "state", "member", "text"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_named_contained_and_recorded(
    tmp_path: Path,
    app: App,
    monkeypatch: pytest.MonkeyPatch,
    build: Callable[[Path], Path],
    limits: dict[str, int],
    state: str,
    member: str | None,
    text: str,
) -> None:
    """Each hostile or broken input gives one failure naming the source (and member), marks
    the source failed, or partial with just that member skipped (recorded in
    member_failures) and the good members stored, and writes nothing outside the state
    dir."""
    monkeypatch.setattr(
        "mediasyncd.kinds.choose_handler", lambda _path, _config=None: ExpandingHandler()
    )
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    source = build(inputs)
    before = tree_snapshot(tmp_path, exclude=[app.state_dir])
    summary = Ingester(app.index, app.store, config_with(**limits), app.state_dir).ingest_paths(
        [source]
    )
    assert tree_snapshot(tmp_path, exclude=[app.state_dir]) == before

    source_text = str(source.absolute())
    assert summary.sources[0]["state"] == state
    failures = [(f.source, f.member, f.error) for f in summary.failures]
    assert len(failures) == 1, failures
    assert failures[0][0] == source_text and failures[0][1] == member
    assert text in failures[0][2]
    if state == "partial" or member is not None:
        # The member is skipped and recorded; the good members landed.
        assert source_row(app, source)[0] == state
        recorded = app.index.execute("SELECT member, error FROM member_failures").fetchall()
        assert [r[0] for r in recorded] == [member] and text in recorded[0][1]
        stored = set(occurrences(app))
        assert set(GOOD) <= stored or "deep" in source.name
    if state == "failed" and member is not None:
        assert member in (source_row(app, source)[1] or "")
    assert_store_consistent(app.index, app.store)


def test_failed_source_keeps_what_an_earlier_run_stored(
    tmp_path: Path, app: App, ingest: Ingest
) -> None:
    """A source that was fine and is later replaced by a broken copy keeps its earlier
    occurrences: nothing already stored is lost because a later drop was damaged."""
    path = make_zip(tmp_path / "export.zip", GOOD)
    ingest(path)
    before = occurrences(app)
    _truncated(path)
    summary = ingest(path)
    assert summary.sources[0]["state"] == "failed"
    assert occurrences(app) == before
    assert_store_consistent(app.index, app.store)


def test_unreadable_file_in_folder(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """A file the service cannot read is named; the others land."""
    if os.geteuid() == 0:
        pytest.skip("root reads every file; permission errors cannot be simulated")
    drop = write_files(tmp_path / "drop", {"locked.png": b"\x89PNG", **GOOD})
    (drop / "locked.png").chmod(0)
    summary = ingest(drop)
    assert any(f.member == "locked.png" for f in summary.failures)
    assert set(occurrences(app)) == set(GOOD)


def test_one_bad_source_does_not_stop_the_others(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """Several paths in one run: the bad one fails, the rest land."""
    good = make_zip(tmp_path / "good.zip", GOOD)
    bad = _write(tmp_path / "bad.zip", b"nope")
    folder = write_files(tmp_path / "drop", {"x.png": media_bytes(50, "x")})
    summary = ingest(good, bad, folder)
    assert [s["state"] for s in summary.sources] == ["ok", "failed", "ok"]
    assert summary.exit_code == 1


def test_streams_are_not_unpacked_to_a_temp_tree(tmp_path: Path, app: App, ingest: Ingest) -> None:
    """Ingesting a zip leaves nothing but objects, the index, empty tmp/ and the per-source
    lock file (a pid) in the state dir (with PostgreSQL: no index and no lock files, its
    locks are the database's)."""
    ingest(make_zip(tmp_path / "d.zip", FILES))
    top = {p.name for p in app.state_dir.iterdir()}
    if app.location.is_postgres:
        assert top <= {"objects", "tmp"}
    assert top <= {"objects", "index.db", "index.db-wal", "index.db-shm", "tmp", "locks"}
    assert list((app.state_dir / "tmp").iterdir()) == []
    locks = app.state_dir / "locks"
    assert all(lock.stat().st_size < 32 for lock in (locks.iterdir() if locks.exists() else []))


def test_size_limit_object_is_what_put_stream_enforces() -> None:
    """SizeLimit is plain data the pipeline hands to the store (sanity of the contract)."""
    limit = SizeLimit(5, "s", "m", "r")
    with pytest.raises(Exception, match=r"s \[m\]: r"):
        ObjectStore(Path("/nonexistent")).hash_stream(io.BytesIO(b"123456"), limit=limit)
