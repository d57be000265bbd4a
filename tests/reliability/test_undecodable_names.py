"""Threat 7 of issue 11: file names that are not valid UTF-8.

Linux names are bytes. A drop named `top\\xff.png` (or such a file inside a folder drop)
used to make every SQL statement naming it raise UnicodeEncodeError: the start-up
reconcile failed (drops made while the daemon was down were never queued), an image dump
stored 0 of its files and the CLI printed a traceback. Zips whose names are marked UTF-8
but are not failed whole. Now such names are stored losslessly as escaped text (`\\xff`
for a byte that is not UTF-8, `\\\\` for a backslash) and zip names that are not UTF-8
are read as CP437.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

from mediasyncd.store.digest import digest_bytes
from tests.daemon.support import DaemonProcess, query, wait_until
from tests.helpers import make_zip, media_bytes, patch_bytes, run_mediasyncd, set_utf8_flags

MakeDaemon = Callable[..., DaemonProcess]


def raw(parent: Path, name: bytes) -> Path:
    """The path of a child whose name is these exact bytes."""
    return parent / os.fsdecode(name)


def _blobs(state_dir: Path) -> set[str]:
    return {str(r[0]) for r in query(state_dir / "index.db", "SELECT digest FROM blobs")}


def test_drop_with_an_undecodable_name_made_while_the_daemon_was_down(
    make_daemon: MakeDaemon, drop: Path
) -> None:
    """`top\\xff.png` dropped before the daemon starts: the start-up reconcile queues it
    and it lands under its escaped name; a live drop after it lands too."""
    early = raw(drop, b"top\xff.png")
    early.write_bytes(media_bytes(2500, "undecodable early"))
    daemon = make_daemon()
    daemon.start()
    wait_until(lambda: daemon.state_of(Path(f"{drop}/top\\xff.png")) == "ok", what="the drop")
    assert not daemon.events("daemon.tick_failed")
    live = raw(drop, b"live\xfe\xfd.png")
    live.write_bytes(media_bytes(2500, "undecodable live"))
    wait_until(lambda: daemon.state_of(Path(f"{drop}/live\\xfe\\xfd.png")) == "ok", what="live")
    assert daemon.stop() == 0
    assert digest_bytes(media_bytes(2500, "undecodable early")) in _blobs(daemon.state_dir)


def test_image_dump_with_undecodable_names_stores_every_file(tmp_path: Path) -> None:
    """An image dump where some photo names are Latin-1 bytes: every photo is stored,
    each under its escaped name, names that differ only by a byte or a literal escape
    stay distinct, and the output shows the escaped names (no traceback)."""
    dump = tmp_path / "meal-images"
    photos: dict[bytes, bytes] = {}
    for user in (b"u1", b"u2"):
        folder = dump / user.decode()
        folder.mkdir(parents=True)
        for i, name in enumerate([b"caf\xe9.jpg", b"caf\\xe9.jpg", b"plain.jpg", b"\xff\xfe.jpg"]):
            data = media_bytes(1200, f"{user!r}-{i}", "jpeg")
            raw(folder, name).write_bytes(data)
            photos[user + b"/" + name] = data
    state = tmp_path / "state"
    done = run_mediasyncd(["--state-dir", str(state), "ingest", "--json", str(dump)])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["failures"] == []
    assert {digest_bytes(d) for d in photos.values()} <= _blobs(state)
    members = {
        str(r[0])
        for r in query(state / "index.db", "SELECT member FROM occurrences WHERE role != 'other'")
    }
    assert {"u1/caf\\xe9.jpg", "u1/caf\\\\xe9.jpg", "u2/\\xff\\xfe.jpg"} <= members
    shown = run_mediasyncd(["--state-dir", str(state), "status"])
    assert shown.returncode == 0 and "Traceback" not in shown.stderr


def _cp437_names_marked_utf8(path: Path, placeholder: bytes, name: bytes) -> None:
    """Give the member written as `placeholder` the raw name `name` (CP437 bytes of the
    same length) and set the UTF-8 flag (bit 11) on every entry, local and central: what
    some Windows zippers write."""
    assert patch_bytes(path, placeholder, name) == 2
    set_utf8_flags(path)


def test_zip_with_names_marked_utf8_that_are_not_is_read_as_cp437(tmp_path: Path) -> None:
    """Every member of such a zip is stored (its name read as CP437), none is lost and
    the drop does not fail as a whole."""
    files = {"rXsumX.png": media_bytes(900, "cp437-a"), "ok.png": media_bytes(900, "b")}
    archive = make_zip(tmp_path / "windows.zip", files.items(), compression=zipfile.ZIP_STORED)
    _cp437_names_marked_utf8(archive, b"rXsumX.png", b"r\x82sum\x82.png")
    state = tmp_path / "state"
    done = run_mediasyncd(["--state-dir", str(state), "ingest", "--json", str(archive)])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, done.stdout + done.stderr
    assert {digest_bytes(d) for d in files.values()} <= _blobs(state)
    members = {str(r[0]) for r in query(state / "index.db", "SELECT member FROM occurrences")}
    assert "résumé.png" in members
