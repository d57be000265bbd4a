"""S3 as a source: `[watch] s3 = ["s3://meal-images/"]` polls each prefix for new objects.

A poll lists the prefix with list-objects-v2 (1,000 keys a request), keeps the keys it
has not taken before (mediasyncd.index.s3_watch says which, and why the state is kept in
the state dir), and ingests them in batches of up to `BATCH_KEYS`, each batch one
image-dump drop (mediasyncd.ingest.s3batch). Batches a crash or an unreachable bucket
left open are finished first. Folder markers (keys ending in `/`), names matching
`watch.ignore`, and the store's own prefix (when the store is in the same bucket) are
never taken. The daemon polls every `watch.s3_poll_interval_seconds` on its scheduler
(and at start); the drops show in `status` like any other.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from mediasyncd.config import Config
from mediasyncd.errors import StoreError
from mediasyncd.index import Index
from mediasyncd.index.s3_watch import ListedObject, WatchState
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.ingest.s3batch import S3BatchIngester
from mediasyncd.logconfig import get_logger
from mediasyncd.s3.client import describe, make_client
from mediasyncd.s3.url import S3Url, parse_s3_url
from mediasyncd.store import Store
from mediasyncd.store.locks import ingest_lock

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = get_logger("mediasyncd.s3.watch")

BATCH_KEYS: Final = 1000


@dataclass
class PollReport:
    url: str
    new_keys: int = 0
    batches: list[tuple[str, str]] = field(default_factory=list)
    summary: IngestSummary = field(default_factory=IngestSummary)
    error: str | None = None


def poll_prefix(
    url_text: str,
    *,
    index: Index,
    store: Store,
    config: Config,
    state_dir: Path,
    client: S3Client | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PollReport:
    """One poll of one watched prefix (see the module docstring)."""
    url = parse_s3_url(url_text)
    client = client or make_client(config.watch.s3_endpoint_url, setting="watch.s3")
    report = PollReport(str(url))
    state = WatchState.for_url(state_dir, url)
    ingester = S3BatchIngester(index, store, config, state_dir, should_stop=should_stop)

    def run(batch: str) -> bool:
        with ingest_lock(state_dir, exclusive=False):
            outcome = ingester.ingest_batch(
                client, url, batch, state.batch_objects(batch), report.summary
            )
        report.batches.append((batch, outcome))
        if outcome == "pending":
            return False
        state.close_batch(batch, outcome)
        return True

    try:
        for batch in state.open_batches():
            if not run(batch):
                return report
        fresh: list[ListedObject] = []
        for page in _pages(client, url, _skipped(store, url, config)):
            fresh.extend(state.unseen(page))
            while len(fresh) >= BATCH_KEYS:
                chunk, fresh = fresh[:BATCH_KEYS], fresh[BATCH_KEYS:]
                report.new_keys += len(chunk)
                if not run(state.add_batch(chunk)):
                    return report
        if fresh:
            report.new_keys += len(fresh)
            run(state.add_batch(fresh))
    except StoreError as exc:
        report.error = str(exc)
    finally:
        state.close()
        log.info(
            "s3.polled",
            url=str(url),
            new_keys=report.new_keys,
            batches=len(report.batches),
            error=report.error,
        )
    return report


def _skipped(store: Store, url: S3Url, config: Config) -> Callable[[str], bool]:
    """Keys a poll never takes: folder markers, ignored names, the store's own objects."""
    from mediasyncd.store.s3 import S3Store

    own = store.base if isinstance(store, S3Store) and store.bucket == url.bucket else None
    patterns = list(config.watch.ignore)

    def skip(key: str) -> bool:
        if key.endswith("/") or (own is not None and key.startswith(own)):
            return True
        name = key.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    return skip


def _pages(
    client: S3Client, url: S3Url, skip: Callable[[str], bool]
) -> Iterator[list[ListedObject]]:
    from botocore.exceptions import BotoCoreError, ClientError

    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=url.bucket, Prefix=url.key_prefix):
            yield [
                ListedObject(
                    entry["Key"],
                    int(entry["Size"]),
                    entry.get("ETag", "").strip('"'),
                    entry["LastModified"],
                )
                for entry in page.get("Contents", [])
                if not skip(entry["Key"])
            ]
    except (ClientError, BotoCoreError) as exc:
        raise StoreError(describe(exc, f"cannot list {url}")) from exc


def poll_watched(
    *,
    connect: Callable[[], Index],
    store: Store,
    config: Config,
    state_dir: Path,
    should_stop: Callable[[], bool],
    report_error: Callable[[str], None],
) -> list[PollReport]:
    """The daemon's job: one poll of every `watch.s3` prefix, problems reported."""
    reports = []
    index = connect()
    try:
        for url in config.watch.s3:
            if should_stop():
                break
            report = poll_prefix(
                url,
                index=index,
                store=store,
                config=config,
                state_dir=state_dir,
                should_stop=should_stop,
            )
            reports.append(report)
            if report.error:
                report_error(f"{url}: {report.error}")
            for source in report.summary.sources:
                if source["state"] in ("failed", "partial", "pending"):
                    problem = next(
                        (f for f in report.summary.failures if f.source == source["path"]), None
                    )
                    detail = f": {problem.member}: {problem.error}" if problem else ""
                    report_error(f"{source['path']}: {source['state']}{detail}")
    finally:
        index.close()
    return reports
