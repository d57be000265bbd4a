"""A real PostgreSQL server for the tests: Debian's packages, a cluster made by `initdb` in
a temp dir, listening on a free loopback port only.

When the server binaries are missing and the tests run as root, `ensure_installed()`
installs Debian's `postgresql` with apt-get, first telling postgresql-common not to
create (and start) a default cluster of its own. Otherwise the PostgreSQL tests are
skipped with the reason, like the browser tests without Chromium.

initdb refuses to run as root: as root the cluster is made and run as the `postgres`
user, which must be able to reach its folder (every ancestor gets o+x, nothing more).
The server is stopped by its PID: SIGINT (a "fast" shutdown: sessions are ended, nothing
is waited for), then SIGKILL after a timeout, and reaped.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port, stop_process

CREATECLUSTER_CONF = Path("/etc/postgresql-common/createcluster.conf")
START_SECONDS = 60.0
STOP_SECONDS = 20.0


def bindir() -> Path | None:
    """The newest installed server's bin folder (`/usr/lib/postgresql/<v>/bin`)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def ensure_installed() -> str | None:
    """Install Debian's PostgreSQL when missing; returns why it cannot be, or None."""
    if bindir() is not None:
        return None
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        return "PostgreSQL is not installed and apt-get is not available"
    if os.geteuid() != 0:
        return "PostgreSQL is not installed and, not running as root, apt-get cannot install it"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

    def apt(*args: str) -> str | None:
        try:
            done = subprocess.run(
                [apt_get, *args], env=env, capture_output=True, text=True, timeout=1200,
                stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`apt-get {' '.join(args)}` failed: {exc}"
        if done.returncode != 0:
            return f"`apt-get {' '.join(args)}` exited {done.returncode}: {done.stderr[-800:]}"
        return None

    # No default cluster (the package would create one and start it on 5432): first
    # postgresql-common, whose createcluster.conf then says so, then the server (as
    # .ci/run does; a conffile written before its package is installed makes dpkg ask).
    install = ["install", "-y", "--no-install-recommends"]
    why = apt("update") or apt(*install, "postgresql-common")
    if why is not None:
        return why
    text = CREATECLUSTER_CONF.read_text() if CREATECLUSTER_CONF.exists() else ""
    if "\ncreate_main_cluster = false" not in "\n" + text:
        CREATECLUSTER_CONF.write_text(text + "\ncreate_main_cluster = false\n")
    why = apt(*install, "postgresql")
    if why is not None:
        return why
    return None if bindir() is not None else "apt-get installed postgresql, but no initdb found"


@dataclass
class PostgresServer:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    user: str = "postgres"
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[-1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown.
        stop_process(self.proc, signal.SIGINT, STOP_SECONDS)


def _as_postgres(root: Path) -> Callable[[], None] | None:
    """Run the server as `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    account = pwd.getpwnam("postgres")
    os.chown(root, account.pw_uid, account.pw_gid)
    # The postgres user must reach its folder: every ancestor needs o+x (search only).
    for parent in root.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)

    def demote() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return demote


def start(root: Path, *, max_connections: int = 100, durable: bool = False) -> PostgresServer:
    """initdb a cluster under `root` and start its server on a free loopback port.
    `durable`: fsync and synchronous commits on (benchmarks); off for tests, where
    durability is not what is tested and speed on a loaded machine is."""
    binaries = bindir()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root.mkdir(parents=True, exist_ok=True)
    demote = _as_postgres(root)
    data = root / "data"
    subprocess.run(
        [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
         "--locale=C.UTF-8"],
        check=True,
        capture_output=True,
        preexec_fn=demote,
    )  # fmt: skip
    port = free_port()
    log = (root / "server.log").open("wb")
    fast = [] if durable else [
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"
    ]  # fmt: skip
    proc = subprocess.Popen(
        [str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
         "-c", "listen_addresses=127.0.0.1", "-c", f"max_connections={max_connections}",
         *fast],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=demote,
    )  # fmt: skip
    log.close()
    server = PostgresServer(root, port, proc)
    deadline = time.monotonic() + START_SECONDS
    while True:
        if proc.poll() is not None:
            raise RuntimeError((root / "server.log").read_text()[-3000:])
        if _accepts(server):
            return server
        if time.monotonic() >= deadline:
            server.stop()
            raise RuntimeError(f"PostgreSQL did not start in {START_SECONDS:g} s")
        time.sleep(0.05)


def _accepts(server: PostgresServer) -> bool:
    import psycopg

    try:
        with psycopg.connect(server.url(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False
