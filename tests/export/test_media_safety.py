"""Exports never carry the store's damage (mediasyncd.export.media), through the real CLI
in child processes: media are reflinks (where the filesystem has them) or copies, hard
links only on request, and after `verify` quarantined a damaged object and a re-drop
repaired it, the next export places every file whose object changed again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.store.digest import digest_stream
from tests.drops import conversations_json, export_zip, file_id
from tests.helpers import make_zip, media_bytes, run_mediasyncd

PHOTOS = range(3)


def _run(state: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    done = run_mediasyncd(["--state-dir", str(state), *(str(a) for a in args)])
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _export(state: Path, out: Path, *flags: str) -> dict[str, Any]:
    done = _run(state, "export", out, "--json", *flags)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _ingested(tmp_path: Path, state: Path) -> Path:
    drop = export_zip(tmp_path / "export.zip", conversations_json(3), PHOTOS)
    assert _run(state, "ingest", drop).returncode == 0
    return drop


def _media(out: Path) -> dict[str, tuple[Path, str]]:
    """Every exported media file: name -> (path, the digest its manifest gives)."""
    found = {}
    for manifest in out.glob("*/media_manifest.json"):
        for record in json.loads(manifest.read_text())["files"]:
            found[record["name"]] = (manifest.parent / record["path"], record["digest"])
    return found


def _object(state: Path, digest: str) -> Path:
    return state / "objects" / digest[:2] / digest[2:]


def _hash(path: Path) -> str:
    with open(path, "rb") as handle:
        return digest_stream(handle)[0]


def _damage(path: Path) -> None:
    """Flip a byte of a store object in place (same inode), as a bad sector would."""
    path.chmod(0o644)
    with open(path, "r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 0x55]))
    path.chmod(0o444)


def _repair(state: Path, drop: Path) -> None:
    """verify quarantines the damaged object; dropping the export again repairs it."""
    assert _run(state, "verify").returncode == 1
    assert _run(state, "ingest", drop).returncode == 0
    assert _run(state, "verify").returncode == 0


def _photo_digest(out: Path) -> tuple[Path, str]:
    """Conversation 0's photo in the export (named photo0.png, after its member)."""
    return _media(out)["photo0.png"]


def test_damage_to_the_store_never_reaches_an_export(tmp_path: Path) -> None:
    """The default export holds files of their own: damaging a store object leaves the
    exported copy intact, before and after verify and a repairing re-drop."""
    state, out = tmp_path / "state", tmp_path / "out"
    drop = _ingested(tmp_path, state)
    first = _export(state, out)
    assert first["files_linked"] == 0
    assert first["files_cloned"] + first["files_copied"] == len(PHOTOS)
    placed, digest = _photo_digest(out)
    assert placed.stat().st_ino != _object(state, digest).stat().st_ino
    _damage(_object(state, digest))
    assert _hash(placed) == digest
    _repair(state, drop)
    again = _export(state, out)
    assert again["unchanged"] + again["written"] == 3
    for path, expected in _media(out).values():
        assert _hash(path) == expected, path


def test_an_export_made_from_a_damaged_object_is_replaced_after_the_repair(
    tmp_path: Path,
) -> None:
    """Damage the export copied (it happened before the export): once verify and a re-drop
    repaired the object, the next export writes that conversation again with good bytes;
    the others stay unchanged."""
    state, out = tmp_path / "state", tmp_path / "out"
    drop = _ingested(tmp_path, state)
    _export(state, tmp_path / "probe")
    _placed, digest = _photo_digest(tmp_path / "probe")
    _damage(_object(state, digest))
    _export(state, out)
    placed, _ = _photo_digest(out)
    assert _hash(placed) != digest  # the export copied the damage
    _repair(state, drop)
    again = _export(state, out)
    assert (again["written"], again["unchanged"]) == (1, 2), again
    placed, _ = _photo_digest(out)
    assert _hash(placed) == digest


def test_hard_links_only_on_request_and_relinked_after_a_repair(tmp_path: Path) -> None:
    """--hardlink shares the object's inode (and so its damage, until the repair); after
    verify and a re-drop the next --hardlink export links the repaired object."""
    state, out = tmp_path / "state", tmp_path / "out"
    drop = _ingested(tmp_path, state)
    first = _export(state, out, "--hardlink")
    assert first["files_linked"] == len(PHOTOS)
    placed, digest = _photo_digest(out)
    assert placed.stat().st_ino == _object(state, digest).stat().st_ino
    _damage(_object(state, digest))
    assert _hash(placed) != digest  # the documented risk of hard links
    _repair(state, drop)
    again = _export(state, out, "--hardlink")
    assert again["written"] == 1 and again["files_linked"] == 1, again
    placed, _ = _photo_digest(out)
    assert placed.stat().st_ino == _object(state, digest).stat().st_ino
    assert _hash(placed) == digest
    switched = _export(state, out)
    assert switched["written"] == 3 and switched["files_linked"] == 0
    for path, expected in _media(out).values():
        assert path.stat().st_ino != _object(state, expected).stat().st_ino


@contextlib.contextmanager
def _mounted(image: Path, mountpoint: Path, fstype: str, size: str) -> Iterator[Path]:
    mountpoint.mkdir(parents=True)
    if fstype == "xfs":
        subprocess.run(["truncate", "-s", size, str(image)], check=True)
        subprocess.run(["mkfs.xfs", "-q", "-f", str(image)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
    else:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], check=True
        )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)


def _cannot_mount(fstype: str) -> str | None:
    if os.geteuid() != 0:
        return "mounting a filesystem for the test needs root"
    if fstype == "xfs" and shutil.which("mkfs.xfs") is None:
        return "mkfs.xfs is not installed (Debian package xfsprogs)"
    return None


@pytest.mark.skipif(_cannot_mount("xfs") is not None, reason=_cannot_mount("xfs") or "")
def test_reflinks_on_a_filesystem_that_has_them(tmp_path: Path) -> None:
    """On XFS the export clones: no bytes copied, no space used, yet files of their own."""
    with _mounted(tmp_path / "xfs.img", tmp_path / "xfs", "xfs", "400M") as fs:
        state, out = fs / "state", fs / "out"
        big = {"conversations.json": conversations_json(2)}
        big.update({f"{file_id(i)}-photo{i}.png": media_bytes(8 << 20, f"big-{i}") for i in (0, 1)})
        drop = make_zip(tmp_path / "big.zip", big)
        assert _run(state, "ingest", drop).returncode == 0
        free_before = shutil.disk_usage(fs).free
        summary = _export(state, out)
        used = free_before - shutil.disk_usage(fs).free
        assert (summary["files_cloned"], summary["files_copied"]) == (2, 0), summary
        assert used < 4 << 20, used  # 16 MB of photos, cloned
        for path, expected in _media(out).values():
            assert path.stat().st_ino != _object(state, expected).stat().st_ino
            assert _hash(path) == expected


@pytest.mark.skipif(_cannot_mount("tmpfs") is not None, reason=_cannot_mount("tmpfs") or "")
def test_a_full_disk_during_export_is_not_a_usage_error(tmp_path: Path) -> None:
    """An export into a filesystem that fills up: exit 1 and one-line errors, not exit 2
    (which is for usage and configuration errors) and not a traceback."""
    state = tmp_path / "state"
    _ingested(tmp_path, state)
    with _mounted(tmp_path / "unused", tmp_path / "small", "tmpfs", "12k") as small:
        done = _run(state, "export", small / "out")
        assert done.returncode == 1, (done.returncode, done.stderr)
        assert "No space left on device" in done.stderr
