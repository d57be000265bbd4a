"""systemd's notify protocol, spoken directly over `$NOTIFY_SOCKET`.

The protocol is one datagram per message on an AF_UNIX socket (sd_notify(3)); a few lines
of socket code need no libsystemd binding. Outside systemd `$NOTIFY_SOCKET` is unset and
every call is a no-op, so the daemon runs the same in a terminal, in tests and under the
unit. What is sent when:
- `READY=1` only once the index is open and migrated (the unit is `Type=notify`, so
  `systemctl start` returns when the daemon can actually take drops);
- `STATUS=...` whenever what the daemon does changes (shown by `systemctl status`);
- `WATCHDOG=1` at half of `$WATCHDOG_USEC`, from the main loop, so a hung loop is
  restarted by systemd;
- `STOPPING=1` when a shutdown begins.
"""

from __future__ import annotations

import os
import socket

from mediasyncd.logconfig import get_logger

log = get_logger("mediasyncd.daemon")


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_seconds = _watchdog_seconds(env)
        self._sock: socket.socket | None = None
        self._last_status = ""

    @property
    def watchdog_interval(self) -> float | None:
        """How often to send WATCHDOG=1: half the timeout systemd enforces (sd_watchdog_enabled)."""
        return None if self.watchdog_seconds is None else self.watchdog_seconds / 2

    def send(self, *lines: str) -> bool:
        if self.address is None:
            return False
        message = "\n".join(lines).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message, self.address)
        except OSError as exc:
            # A notification that cannot be sent must not stop the daemon; systemd will
            # notice a missing READY or WATCHDOG by itself.
            log.warning("notify.failed", error=str(exc), message=lines[0] if lines else "")
            return False
        return True

    def ready(self, status: str) -> None:
        self._last_status = status
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def reloading(self) -> None:
        self.send("RELOADING=1", "STATUS=reloading the configuration")

    def reloaded(self, status: str) -> None:
        self._last_status = status
        self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _socket_address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        # An abstract socket: the name starts with a NUL byte instead of '@'.
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # vsock and other addresses are not used by systemd for services


def _watchdog_seconds(env: os._Environ[str] | dict[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    # WATCHDOG_PID names the process the watchdog is meant for; a child that inherited
    # the environment must not feed it.
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000
