"""Threat 3 of issue 11: `after_ingest = "delete"` (or "move") touches only what was read.

A drop replaced while its ingest runs, or a folder drop that grows during the walk, used
to be deleted whole once the ingest finished: content that was never ingested was lost.
Now the drop is deleted only when its fingerprint after the ingest equals the one the
ingest read; a folder loses only the files that were read, unchanged. The daemon is
stopped (SIGSTOP) at a fault point mid-ingest so the change lands at an exact step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mediasyncd.store.digest import digest_bytes
from tests.daemon.support import DaemonProcess, query, wait_until
from tests.helpers import media_bytes, wait_stopped, write_files
from tests.reliability.races import resume

MakeDaemon = Callable[..., DaemonProcess]
DURABLE = {"store": {"fsync": True}, "index": {"synchronous": "FULL"}}


def _stored(daemon: DaemonProcess, data: bytes) -> bool:
    digest = digest_bytes(data)
    return bool(query(daemon.db, "SELECT 1 FROM blobs WHERE digest = ?", (digest,)))


def _deleting_daemon(make_daemon: MakeDaemon, fault: str) -> DaemonProcess:
    daemon = make_daemon(watch={"after_ingest": "delete"}, **DURABLE)
    daemon.start(env={"MEDIASYNCD_FAULT": fault})
    daemon.wait_started()
    return daemon


def test_file_replaced_during_its_ingest_is_not_deleted_unread(
    make_daemon: MakeDaemon, drop: Path, tmp_path: Path
) -> None:
    """The drop is replaced (new bytes renamed over it) after it was read but before the
    ingest ends: the new version is kept, ingested in turn, and only then deleted."""
    daemon = _deleting_daemon(make_daemon, "ingest.before_rematch:1:stop")
    assert daemon.proc is not None
    target = drop / "photo.png"
    old, new = media_bytes(5000, "old version"), media_bytes(5000, "new version")
    target.write_bytes(old)
    wait_stopped(daemon.proc.pid, "the daemon")
    replacement = tmp_path / "replacement.png"
    replacement.write_bytes(new)
    os.replace(replacement, target)
    resume(daemon.proc.pid)
    wait_until(
        lambda: _stored(daemon, new) or not target.exists(),
        timeout=60,
        what="the new version to be stored or the drop to be gone",
    )
    assert _stored(daemon, new), "the drop was deleted with a version the ingest never read"
    wait_until(lambda: not target.exists(), timeout=60, what="the drop deleted once all is stored")
    assert _stored(daemon, old)
    assert daemon.stop() == 0


def test_folder_drop_growing_during_the_walk_loses_nothing(
    make_daemon: MakeDaemon, drop: Path
) -> None:
    """A file appears in an already-walked part of a folder drop mid-ingest: the folder is
    not deleted with the unread file in it; every file ends up stored before it goes."""
    daemon = _deleting_daemon(make_daemon, "ingest.after_batch_commit:1:stop")
    assert daemon.proc is not None
    files = {f"img/{i:04}.png": media_bytes(600, f"grow{i}") for i in range(700)}
    folder = write_files(drop / "export", files)
    wait_stopped(daemon.proc.pid, "the daemon")
    late = media_bytes(600, "late arrival")
    (folder / "img" / "0000-late.png").write_bytes(late)
    resume(daemon.proc.pid)
    # Generous deadlines: every object is fsynced (delete needs store.fsync).
    wait_until(
        lambda: _stored(daemon, late) or not folder.exists(),
        timeout=90,
        what="the late file to be stored or the folder to be gone",
    )
    assert _stored(daemon, late), "the folder was deleted with a file the ingest never read"
    wait_until(
        lambda: not folder.exists(), timeout=90, what="the folder deleted once all is stored"
    )
    assert all(_stored(daemon, data) for data in files.values())
    assert daemon.stop() == 0
