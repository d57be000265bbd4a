"""The watcher: filesystem detection from mountinfo, event -> drop mapping, and real
inotify and polling observers on a tmp folder."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasyncd.daemon.watcher import (
    Watcher,
    filesystem_of,
    is_network_filesystem,
    limit_message,
    parse_mountinfo,
    read_mounts,
    top_level,
)
from tests.daemon.support import wait_until

MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 0:50 / /mnt/nas rw,relatime shared:1 - nfs4 nas:/export rw,vers=4.2
41 27 0:51 / /mnt/smb\040share rw,relatime - cifs //srv/share rw
42 27 0:52 / /home/u/gdrive rw,nosuid - fuse.rclone gdrive: rw
43 27 0:53 / /media/usb rw - fuseblk /dev/sdb1 rw
44 40 0:54 / /mnt/nas/local rw - ext4 /dev/vdb rw
"""


def test_parse_mountinfo_and_filesystem_of() -> None:
    """The longest mount point holding a path decides; escaped spaces are decoded."""
    mounts = parse_mountinfo(MOUNTINFO)
    assert ("/mnt/smb share", "cifs") in mounts
    assert filesystem_of(Path("/srv/drop"), mounts) == "ext4"
    assert filesystem_of(Path("/mnt/nas/drop"), mounts) == "nfs4"
    assert filesystem_of(Path("/mnt/nas/local/drop"), mounts) == "ext4"
    assert filesystem_of(Path("/mnt/smb share/x"), mounts) == "cifs"
    assert filesystem_of(Path("/mnt/nasty"), mounts) == "ext4"  # not under /mnt/nas
    assert filesystem_of(Path("/home/u/gdrive/in"), mounts) == "fuse.rclone"


@pytest.mark.parametrize(
    ("fstype", "network"),
    [
        ("nfs", True),
        ("nfs4", True),
        ("cifs", True),
        ("smb3", True),
        ("fuse.sshfs", True),
        ("fuse.rclone", True),
        ("fuse", True),
        ("fuseblk", False),
        ("ext4", False),
        ("tmpfs", False),
        (None, False),
    ],
)
def test_network_filesystems_are_polled(fstype: str | None, network: bool) -> None:
    """NFS, SMB/CIFS and FUSE filesystems (not a local fuseblk disk) are polled."""
    assert is_network_filesystem(fstype) is network


def test_watcher_polls_network_folder(tmp_path: Path) -> None:
    """A folder the mount table places on NFS is watched by polling, with the reason."""
    watcher = Watcher(
        lambda p: None,
        poll=False,
        poll_interval=0.1,
        mounts=lambda: [("/", "ext4"), (str(tmp_path), "nfs4")],
    )
    try:
        watch = watcher.watch(tmp_path)
        assert watch.mode == "poll" and "nfs4" in watch.reason
    finally:
        watcher.stop_all()


def test_real_mountinfo_is_readable(tmp_path: Path) -> None:
    """This machine's /proc/self/mountinfo names a filesystem for tmp_path."""
    assert filesystem_of(tmp_path.resolve(), read_mounts()) is not None


def test_top_level() -> None:
    """An event deep inside a folder drop maps to the folder; the watched folder itself
    and paths outside it map to nothing."""
    assert top_level("/drop", "/drop/export/a/b.png") == Path("/drop/export")
    assert top_level("/drop", b"/drop/x.zip") == Path("/drop/x.zip")
    assert top_level("/drop", "/drop") is None
    assert top_level("/drop", "/dropbox/x") is None


class Collector:
    def __init__(self) -> None:
        self.seen: set[Path] = set()
        self.lock = threading.Lock()

    def __call__(self, path: Path) -> None:
        with self.lock:
            self.seen.add(path)

    def has(self, path: Path) -> bool:
        with self.lock:
            return path in self.seen


@pytest.fixture(params=["inotify", "poll"])
def watched(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Collector, Path]]:
    """A real observer (inotify or polling) on tmp_path/drop; stopped and joined after."""
    folder = tmp_path / "drop"
    folder.mkdir()
    collector = Collector()
    watcher = Watcher(collector, poll=request.param == "poll", poll_interval=0.1)
    watch = watcher.watch(folder)
    assert watch.mode == request.param
    yield collector, folder
    watcher.stop_all()
    assert not watch.observer.is_alive()


# watchdog's inotify thread warns when `mkdir -p` races its recursive watch setup; the
# warning is harmless, but as an error (filterwarnings=error) it would kill that thread.
@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")
def test_events_reach_the_sink_as_drops(watched: tuple[Collector, Path]) -> None:
    """Creating a file, writing inside a folder drop and renaming a temp name each report
    the top-level drop."""
    collector, folder = watched
    (folder / "a.jpg").write_bytes(b"x")
    wait_until(lambda: collector.has(folder / "a.jpg"), 10)
    (folder / "export" / "sub").mkdir(parents=True)
    wait_until(lambda: collector.has(folder / "export"), 10)
    (folder / "b.zip.part").write_bytes(b"x")
    (folder / "b.zip.part").rename(folder / "b.zip")
    wait_until(lambda: collector.has(folder / "b.zip"), 10)


def test_missing_folder_raises(tmp_path: Path) -> None:
    """Watching a folder that does not exist is an OSError the daemon reports."""
    watcher = Watcher(lambda p: None, poll=False, poll_interval=1)
    with pytest.raises(FileNotFoundError):
        watcher.watch(tmp_path / "nope")
    assert watcher.watches == {}


def test_exhausted_probe_falls_back_to_polling(tmp_path: Path) -> None:
    """When one more inotify watch cannot be added after the recursive watch started,
    some subfolder went unwatched: the folder is polled instead."""
    watcher = Watcher(lambda p: None, poll=False, poll_interval=1, probe=lambda: errno.ENOSPC)
    try:
        watch = watcher.watch(tmp_path)
        assert watch.mode == "poll"
        assert "fs.inotify.max_user_watches" in watch.reason
    finally:
        watcher.stop_all()


def test_limit_message_names_the_sysctl() -> None:
    """The message says which sysctl to raise and how."""
    assert "sysctl -w fs.inotify.max_user_watches=" in limit_message(errno.ENOSPC)
    assert "fs.inotify.max_user_instances" in limit_message(errno.EMFILE)
