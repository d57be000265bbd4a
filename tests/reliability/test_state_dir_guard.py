"""Threats 1 and 4 of issue 11: nothing planted in the drop folder reaches the state dir.

1. A symlink to `<state>/index.db` in the drop folder: opening and closing the database
   file from the daemon drops every POSIX lock its SQLite connections hold, so the next
   CLI command deletes the live WAL and the daemon's later ingests vanish.
4. A done folder planted as a symlink into `objects/`: moved drops land inside the store
   under object names, and a later real file with such a digest must not deduplicate
   against the planted bytes.
Every test drives the real daemon (`mediasyncd run`) and CLI in child processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mediasyncd.store.digest import digest_bytes
from tests.daemon.support import DaemonProcess, query, wait_until
from tests.helpers import media_bytes

MakeDaemon = Callable[..., DaemonProcess]


def _cli(daemon: DaemonProcess, *args: str) -> tuple[int, str, str]:
    done = daemon.cli(*args)
    return done.returncode, done.stdout, done.stderr


def _events_about(daemon: DaemonProcess, path: Path) -> list[str]:
    return [str(e["event"]) for e in daemon.events() if e.get("source") == str(path)]


def test_symlink_to_the_index_loses_no_acknowledged_ingest(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """Planted `drop/evil.zip -> <state>/index.db`: the daemon refuses it at lstat without
    opening it; a CLI ingest beside the daemon and the daemon's next drop both stay in
    the index after the daemon stops, and `verify` agrees with what is there."""
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    first = drop / "first.png"
    first.write_bytes(media_bytes(3000, "first"))
    wait_until(lambda: daemon.state_of(first) == "ok", what="the first drop")

    evil = drop / "evil.zip"
    evil.symlink_to(daemon.db)
    # The daemon has looked at the planted link once it logs anything beyond seeing it.
    wait_until(
        lambda: set(_events_about(daemon, evil)) - {"drop.seen"},
        what="the daemon to deal with the planted link",
    )

    beside = tmp_path / "beside.png"
    beside.write_bytes(media_bytes(3000, "beside"))
    code, _out, err = _cli(daemon, "ingest", str(beside))
    assert code == 0, err

    third = drop / "third.png"
    third.write_bytes(media_bytes(3000, "third"))
    # Acknowledged: the daemon logs the job as done. From then on every other process
    # sees it, and it survives the daemon dying.
    wait_until(
        lambda: "job.done" in _events_about(daemon, third) or daemon.exited(),
        what="the daemon to ingest the drop after the CLI ingest",
    )
    seen = query(daemon.db, "SELECT state FROM sources WHERE path = ?", (str(third),))
    daemon.kill()

    # A fresh process reads the index the daemon left: every acknowledged ingest is there.
    assert seen == [("ok",)], "a drop the daemon acknowledged is not in the index"
    ok = {row[0] for row in query(daemon.db, "SELECT path FROM sources WHERE state = 'ok'")}
    assert {str(first), str(beside), str(third)} <= ok
    blobs = {row[0] for row in query(daemon.db, "SELECT digest FROM blobs")}
    for name in ("first", "beside", "third"):
        assert digest_bytes(media_bytes(3000, name)) in blobs, name
    assert str(evil) not in ok
    refused = [e for e in daemon.events("drop.refused") if e.get("source") == str(evil)]
    assert refused and "symbolic link" in str(refused[0]["reason"])
    code, out, err = _cli(daemon, "verify", "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["problems"] == []


def _free_shard_content(state_dir: Path, size: int) -> tuple[bytes, str]:
    """Bytes (a fixed seed) whose object shard does not exist yet, and their digest."""
    for seed in range(1000):
        data = media_bytes(size, f"victim-{seed}")
        digest = digest_bytes(data)
        if not (state_dir / "objects" / digest[:2]).exists():
            return data, digest
    raise AssertionError("no free shard among 1000 seeds")


def test_done_folder_planted_into_the_store_cannot_poison_it(
    make_daemon: MakeDaemon, drop: Path
) -> None:
    """`drop/done -> <state>/objects` planted with after_ingest = "move": the move is
    refused (the drop stays where it was), nothing lands inside the store, and a later real
    file whose digest the planted folder was named after is stored with its own bytes."""
    daemon = make_daemon(watch={"after_ingest": "move", "done_folder": "done"})
    daemon.start()
    daemon.wait_started()
    (drop / "done").symlink_to(daemon.state_dir / "objects")
    real, digest = _free_shard_content(daemon.state_dir, 5000)
    # The attacker's folder drop is named so that, moved into objects/, its one file sits
    # where the real file's object belongs, with bytes of the same size.
    planted = drop / digest[:2]
    planted.mkdir()
    poison = media_bytes(5000, "poison")
    (planted / digest[2:]).write_bytes(poison)
    wait_until(
        lambda: daemon.jobs_for(planted) and daemon.jobs_for(planted)[-1][0] == "done",
        what="the planted folder's ingest",
    )
    note = daemon.jobs_for(planted)[-1][1] or ""
    # Not the shard folder: the planted drop's own objects (its file, its manifest) may
    # land in that shard by chance (the manifest names a temp path, so that chance, 2 in
    # 256, changed from run to run). Where the move would have put the file is empty.
    assert not (daemon.state_dir / "objects" / digest[:2] / digest[2:]).exists(), note
    assert (planted / digest[2:]).read_bytes() == poison, "the refused move kept the drop"
    assert "state dir" in note

    victim = drop / "victim.png"
    victim.write_bytes(real)
    wait_until(lambda: daemon.state_of(victim) == "ok", what="the real file")
    daemon.kill()
    stored = (daemon.state_dir / "objects" / digest[:2] / digest[2:]).read_bytes()
    assert stored == real
    code, out, err = _cli(daemon, "verify", "--json")
    assert code == 0, out + err


def test_object_the_index_does_not_know_is_not_trusted_on_a_hit(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    """An object file with no blob row (a killed ingest's leftover, or planted) that holds
    other bytes than its name says is replaced when the real content arrives: a digest
    hit on an unknown object re-hashes it first."""
    daemon = make_daemon()
    real, digest = _free_shard_content(daemon.state_dir, 4000)
    shard = daemon.state_dir / "objects" / digest[:2]
    shard.mkdir(parents=True)
    (shard / digest[2:]).write_bytes(media_bytes(4000, "planted"))
    source = tmp_path / "real.png"
    source.write_bytes(real)
    code, _out, err = _cli(daemon, "ingest", str(source))
    assert code == 0, err
    assert (shard / digest[2:]).read_bytes() == real
    code, out, err = _cli(daemon, "verify", "--json")
    assert code == 0, out + err
