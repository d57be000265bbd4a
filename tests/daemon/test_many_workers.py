"""Many `mediasyncd run` processes sharing one PostgreSQL index and one store: a local
folder every state dir's objects/ points at, or an S3 bucket of the test SeaweedFS server.

Each worker is a real child process with a state dir and a drop folder of its own; the
index is a database of the test PostgreSQL server (tests/pgserver.py), the bucket the
test SeaweedFS's (tests/seaweed.py). A worker is killed with a real SIGKILL in the middle
of a drop, after it committed part of it.
"""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.index import Index
from mediasyncd.index.postgres import open_postgres
from mediasyncd.store.s3 import open_s3_store
from tests.conftest import CliResult, invoke_cli
from tests.daemon.support import DaemonProcess, wait_until, write_config
from tests.helpers import media_bytes, write_files
from tests.seaweed import Seaweed
from tests.support.chatgpt_corpus import DropSpec, SplitPlan, build_corpus, cli_records, write_split

LEASE = 3.0
# A worker dies after committing the first batch of its drop: mid-drop.
MID_DROP = "ingest.after_batch_commit"


@pytest.fixture
def shared(pg_url: str) -> Any:
    index = open_postgres(pg_url)
    yield index
    index.close()


def rows(index: Index, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in index.execute(sql, params).fetchall()]


def worker(
    tmp_path: Path, name: str, url: str, store: Path | dict[str, str]
) -> tuple[DaemonProcess, Path]:
    """A worker `name`: its own drop folder, state dir and config; the shared index; the
    shared store: a local folder, or the `[store]` table of an S3 one."""
    folder = tmp_path / f"drop-{name}"
    folder.mkdir(exist_ok=True)
    config = write_config(
        tmp_path / f"{name}.toml",
        [folder],
        index={"url": url, "lease_seconds": LEASE},
        **({"store": store} if isinstance(store, dict) else {}),
    )
    state = tmp_path / f"state-{name}"
    state.mkdir(exist_ok=True)
    if isinstance(store, Path):
        # The store is the state dir's objects/: every worker's points at the same one.
        (state / "objects").symlink_to(store, target_is_directory=True)
    return DaemonProcess(config, state, tmp_path / f"{name}.log"), folder


@pytest.fixture
def workers(tmp_path: Path) -> Any:
    made: list[DaemonProcess] = []
    yield made
    for daemon in made:
        daemon.kill()


def settled(index: Index, count: int) -> bool:
    """`count` sources landed and no job waits or runs."""
    done = rows(index, "SELECT COUNT(*) FROM sources WHERE state IN ('ok', 'partial')")[0][0]
    open_jobs = rows(index, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
    return int(done) >= count and int(open_jobs[0][0]) == 0


def test_killed_worker_loses_its_lease_and_another_finishes(
    tmp_path: Path, pg_url: str, shared: Index, workers: list[DaemonProcess]
) -> None:
    """Worker A is frozen mid-drop (its first batch committed), then SIGKILLed while B runs:
    A's lease runs out with no heartbeat and B takes the job over and finishes it."""
    store = tmp_path / "objects"
    store.mkdir()
    a, folder_a = worker(tmp_path, "a", pg_url, store)
    b, _ = worker(tmp_path, "b", pg_url, store)
    workers += [a, b]
    a.start(env={"MEDIASYNCD_FAULT": f"{MID_DROP}:1:stop"})
    a.wait_started()
    drop = write_files(folder_a / "photos", {f"{i}.png": media_bytes(900 + i, i) for i in range(5)})
    # A stops itself (SIGSTOP) once it has committed part of the drop.
    wait_until(
        lambda: (
            rows(shared, "SELECT state FROM sources WHERE path = ?", (str(drop),)) == [("pending",)]
            and rows(shared, "SELECT COUNT(*) FROM occurrences")[0][0] > 0
        ),
        what="A mid-drop",
    )
    b.start()
    b.wait_started()
    assert rows(shared, "SELECT state FROM jobs") == [("running",)]
    a.signal(signal.SIGKILL)
    assert a.proc is not None and a.proc.wait(timeout=30) == -signal.SIGKILL
    wait_until(lambda: settled(shared, 1), timeout=60, what="B to finish A's drop")
    assert rows(shared, "SELECT state, attempts FROM jobs") == [("done", 2)]
    assert [e["source"] for e in b.events("job.resumed")] == [str(drop)]
    assert rows(shared, "SELECT state, members FROM sources") == [("ok", 5)]
    done = [e for e in b.events("job.done") if e.get("source") == str(drop)]
    assert len(done) == 1, b.log.read_text()[-3000:]
    assert not a.events("job.done")
    # `status` names both workers: A dead (no heartbeat within its lease), B running.
    status = json.loads(invoke_cli(["--config", str(b.config), "status", "--json"]).stdout)
    states = {(w["pid"], w["state"]) for w in status["daemon"]["workers"]}
    assert b.proc is not None
    assert states == {(a.proc.pid, "dead"), (b.proc.pid, "running")}
    assert b.stop() == 0


def corpus_drops(root: Path) -> list[Path]:
    """The test chat corpus split into six drops (era B and C exports, privacy archives)."""
    corpus = build_corpus(seed=5, n_conversations=36)
    eras = ["B", "C", "B", "C"]
    plan = SplitPlan([DropSpec(era, True) for era in eras] + [DropSpec("P", True)] * 2)
    pick = random.Random(5)
    for conv in corpus.conversations:
        plan.conversation_drop[conv.id] = pick.randrange(len(eras))
    for asset in corpus.export_assets():
        plan.asset_drop[asset.uid] = pick.randrange(len(eras))
    for asset in corpus.privacy_assets():
        plan.privacy_drop[asset.uid] = len(eras) + pick.randrange(2)
    return [drop.path for drop in write_split(corpus, root, plan)]


def links(records: list[dict[str, Any]]) -> list[str]:
    """Link records, sorted, without `path`: which of the places a file was found in is
    named first depends on the order the drops arrived in, not on the links."""
    return sorted(json.dumps({k: v for k, v in r.items() if k != "path"}) for r in records)


@pytest.mark.slow
def test_two_workers_ingest_the_corpus_on_postgresql_and_s3_like_one_sqlite_machine(
    tmp_path: Path,
    pg_url: str,
    shared: Index,
    workers: list[DaemonProcess],
    seaweed: Seaweed,
    s3_bucket: str,
    s3_prefix: str,
) -> None:
    """Issue 16's combined test: the whole chat corpus split between two workers' drop
    folders, ingested at once into one PostgreSQL index and one S3 store (SeaweedFS); one
    worker is SIGKILLed mid-drop and restarted. The links equal those of one machine
    ingesting every drop into SQLite and its local store, and no object was written to a
    worker's disk."""
    drops = corpus_drops(tmp_path / "corpus")
    reference = tmp_path / "reference-state"
    done = invoke_cli(["--state-dir", str(reference), "ingest", *map(str, drops)])
    assert done.code == 0, done.stderr
    expected = links(cli_records(reference, "matches"))
    assert expected

    bucket = f"s3://{s3_bucket}/{s3_prefix}/objects"
    store = {"url": bucket, "endpoint_url": seaweed.endpoint}
    a, folder_a = worker(tmp_path, "a", pg_url, store)
    b, folder_b = worker(tmp_path, "b", pg_url, store)
    workers += [a, b]
    for number, drop in enumerate(drops):
        drop.rename((folder_a if number % 2 == 0 else folder_b) / drop.name)
    # A dies mid-drop on the second drop it takes. B starts once A is dead: started
    # together, B could take A's queued drops while A reads its first, and A would never
    # reach a second drop. Then both run at once on the rest, A's broken drop included.
    a.start(env={"MEDIASYNCD_FAULT": f"{MID_DROP}:2"})
    assert a.proc is not None
    a.proc.wait(timeout=120)
    assert a.proc.returncode == -signal.SIGKILL
    b.start()
    a.start()
    wait_until(lambda: settled(shared, len(drops)), timeout=240, what="every drop to land")
    assert a.stop() == 0 and b.stop() == 0
    state = tmp_path / "state-a"
    result: CliResult = invoke_cli(
        ["--config", str(a.config), "--state-dir", str(state), "matches", "--format", "jsonl"]
    )
    assert result.code == 0, result.stderr
    got = links([json.loads(line) for line in result.stdout.splitlines() if line])
    assert got == expected
    # Both workers took part, and the killed one's drop was resumed, not lost.
    assert a.events("job.done") and b.events("job.done")
    assert rows(shared, "SELECT COUNT(*) FROM jobs WHERE attempts > 1")[0][0] >= 1
    # Every object the index names is in the bucket, whole; none landed on local disk.
    assert not (tmp_path / "state-a" / "objects").exists()
    assert not (tmp_path / "state-b" / "objects").exists()
    s3 = open_s3_store(bucket, endpoint_url=seaweed.endpoint, spool_dir=tmp_path / "tmp")
    in_bucket = {entry.digest for entry in s3.iterate()}
    named = {digest for (digest,) in rows(shared, "SELECT digest FROM blobs")}
    assert named and named <= in_bucket
    verified = invoke_cli(["--config", str(a.config), "--state-dir", str(state), "verify"])
    assert verified.code == 0, verified.stdout + verified.stderr
