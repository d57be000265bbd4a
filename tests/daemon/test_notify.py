"""The sd_notify protocol over a real AF_UNIX datagram socket, as systemd listens."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasyncd.daemon.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where $NOTIFY_SOCKET would point."""
    # AF_UNIX paths are limited to ~108 bytes; tmp_path can be longer.
    path = f"/tmp/msd-notify-{os.getpid()}-{id(tmp_path)}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()
    Path(path).unlink(missing_ok=True)


def test_messages_reach_the_socket(listener: tuple[socket.socket, str]) -> None:
    """READY, STATUS, WATCHDOG and STOPPING arrive as one datagram each."""
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.address is not None
    notifier.ready("index open")
    assert sock.recv(4096).decode().splitlines()[:2] == ["READY=1", "STATUS=index open"]
    notifier.status("queue 3")
    assert sock.recv(4096) == b"STATUS=queue 3"
    notifier.status("queue 3")  # unchanged: not sent again
    notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    notifier.stopping()
    assert sock.recv(4096).decode().splitlines()[0] == "STOPPING=1"
    notifier.close()


def test_abstract_socket_address() -> None:
    """'@name' means the abstract socket '\\0name'."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"msd-notify-test-{os.getpid()}"
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        notifier.close()
    finally:
        sock.close()


def test_without_systemd_nothing_is_sent() -> None:
    """No $NOTIFY_SOCKET: every call is a no-op and the watchdog is off."""
    notifier = Notifier({})
    assert notifier.address is None
    assert notifier.send("READY=1") is False
    assert notifier.watchdog_interval is None


def test_watchdog_interval_is_half_the_timeout() -> None:
    """WATCHDOG_USEC=4 s gives a ping every 2 s; another process's WATCHDOG_PID disables it."""
    assert Notifier({"WATCHDOG_USEC": "4000000"}).watchdog_interval == 2.0
    mine = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(mine).watchdog_interval == 2.0
    other = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(other).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_interval is None


def test_unreachable_socket_does_not_raise(tmp_path: Path) -> None:
    """A socket that is gone is logged, not fatal."""
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.send("READY=1") is False
    notifier.close()
