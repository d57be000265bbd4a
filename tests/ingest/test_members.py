"""Recording a batch of stored members set-based (issue 14): a few statements per table
per batch of 500, not several Python round trips per member; the rows are the ones a
member-at-a-time recording gives (repeated member paths included)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.app import App
from mediasyncd.index import sources
from mediasyncd.index.sqlite import SqliteIndex
from mediasyncd.ingest.members import MemberWriter
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.sources.container import Member
from mediasyncd.sources.plain import PlainMediaHandler
from tests.helpers import make_zip, media_bytes

MEMBERS = {f"photos/{n:04}.png": media_bytes(700 + n, f"m{n}") for n in range(1_200)}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    loaded = App.load(state_dir=str(tmp_path / "state"))
    yield loaded
    loaded.close()


WRITES = ("INSERT", "UPDATE", "DELETE")


class Calls:
    def __init__(self) -> None:
        self.writes = 0
        self.reads = 0

    def count(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(WRITES):
            self.writes += 1
        elif sql.lstrip().upper().startswith("SELECT"):
            self.reads += 1


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Counts the statements the ingest sends to SQLite from Python (they still run)."""
    seen = Calls()
    execute, executemany = SqliteIndex.execute, SqliteIndex.executemany

    def counting_execute(self: SqliteIndex, sql: str, params: Any = ()) -> Any:
        seen.count(sql)
        return execute(self, sql, params)

    def counting_executemany(self: SqliteIndex, sql: str, rows: Any) -> None:
        seen.count(sql)
        executemany(self, sql, rows)

    monkeypatch.setattr(SqliteIndex, "execute", counting_execute)
    monkeypatch.setattr(SqliteIndex, "executemany", counting_executemany)
    return seen


def test_members_are_recorded_without_a_round_trip_per_member(
    tmp_path: Path, app: App, calls: Calls
) -> None:
    drop = make_zip(tmp_path / "photos.zip", MEMBERS, compression=zipfile.ZIP_STORED)
    ingester = Ingester(app.index, app.store, app.config, app.state_dir)
    summary = ingester.ingest_paths([drop])
    assert summary.failures == [] and summary.blobs_new == len(MEMBERS)
    assert app.index.scalar("SELECT count(*) FROM occurrences") == len(MEMBERS) + 1
    # 1,200 members in 3 batches: a member-at-a-time recording sent 3-4 writes for each
    # (about 4,800); set-based, each batch sends a handful per table. What is left per
    # member is one read before it is read (the zip CRC-32 hint of a stored copy).
    assert calls.writes < 100, calls.writes
    assert calls.reads < len(MEMBERS) + 100, calls.reads


def test_a_batch_with_a_repeated_member_records_what_one_at_a_time_does(
    tmp_path: Path,
) -> None:
    """A member path that repeats in a batch (other bytes the second time): the batch's
    rows equal those of recording the members one by one (the later one wins)."""
    entries = [
        ("a/x.png", media_bytes(900, "first")),
        ("a/y.png", media_bytes(901, "y")),
        ("a/x.png", media_bytes(902, "second")),
        ("a/z.png", media_bytes(900, "first")),
        ("a/x.png", media_bytes(902, "second")),
    ]
    results = []
    for mode in ("batch", "single"):
        app = App.load(state_dir=str(tmp_path / mode))
        try:
            results.append(_record(app, entries, batch=mode == "batch"))
        finally:
            app.close()
    assert results[0] == results[1]
    assert results[0]["occurrences"] == [("a/x.png", 902), ("a/y.png", 901), ("a/z.png", 900)]


def _record(app: App, entries: list[tuple[str, bytes]], *, batch: bool) -> dict[str, Any]:
    writer = MemberWriter(app.index, app.store, app.config)
    handler = PlainMediaHandler()
    with app.index.write():
        row = sources.begin_source_run(
            app.index,
            "/drop",
            is_dir=True,
            size=None,
            mtime_ns=None,
            inode=None,
            device=None,
            fingerprint="f",
        )
    stored = []
    for name, data in entries:
        member = Member(path=name, size=len(data), opener=lambda d=data: io.BytesIO(d))
        stored.append((member, app.store.put_stream(io.BytesIO(data))))
    changed: set[tuple[str, str]] = set()
    with app.index.write():
        if batch:
            ids = [o.occurrence_id for o in writer.record_batch(row, handler, stored, changed)]
        else:
            ids = [
                o.occurrence_id
                for m, r in stored
                for o in [writer.record(row, handler, m, r, changed)]
            ]
    return {
        "occurrences": sorted(
            (str(m), int(s)) for m, s in app.index.execute("SELECT member, size FROM occurrences")
        ),
        "keys": sorted(app.index.execute("SELECT key_kind, key FROM occurrence_keys").fetchall()),
        "same_ids": [ids.index(i) for i in ids],
        "changed": sorted(changed),
    }
