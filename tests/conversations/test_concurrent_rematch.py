"""Workers rematching the same conversations or users at once (PostgreSQL) end where one
full rematch ends: the per-subject advisory locks serialize them (mediasyncd.index.advisory;
why locks: docs/architecture.md, "Many workers").

Without the locks, a worker that read a subject's data, and computes its links, while
another worker's drop about the same subject lands and is rematched, writes its older
view over the newer links; and a full rematch racing an incremental one loses links.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mediasyncd.app import App
from mediasyncd.config import Config, IndexConfig
from mediasyncd.conversations.matcher import ConversationMatcher
from mediasyncd.index import Index
from mediasyncd.index.postgres import open_postgres
from mediasyncd.index.reports import iter_matches, iter_unresolved
from mediasyncd.ingest.pipeline import Ingester
from tests.daemon.support import wait_until
from tests.helpers import REPO_ROOT, media_bytes, run_mediasyncd
from tests.support.chatgpt_corpus import DropSpec, SplitPlan, build_corpus, write_split

WORKERS = 4
ROUNDS = 3


def snapshot(index: Index) -> tuple[list[str], list[str]]:
    """Every link and unresolved reference, as sorted JSON lines (a duplicate shows)."""
    return (
        sorted(json.dumps(r, sort_keys=True) for r in iter_matches(index)),
        sorted(json.dumps(r, sort_keys=True) for r in iter_unresolved(index)),
    )


@pytest.fixture
def ingested(tmp_path: Path, pg_url: str) -> tuple[list[str], tuple[list[str], list[str]]]:
    """A PostgreSQL index holding a split chat corpus: its conversation ids, and its links
    and unresolved references after a full rematch."""
    corpus = build_corpus(seed=3, n_conversations=40)
    plan = SplitPlan([DropSpec("B", True), DropSpec("P", True)])
    for conv in corpus.conversations:
        plan.conversation_drop[conv.id] = 0
    for asset in corpus.export_assets():
        plan.asset_drop[asset.uid] = 0
    for asset in corpus.privacy_assets():
        plan.privacy_drop[asset.uid] = 1
    drops = [drop.path for drop in write_split(corpus, tmp_path / "drops", plan)]
    config = Config(index=IndexConfig(url=pg_url))
    app = App(config, tmp_path / "state")
    try:
        summary = Ingester(app.index, app.store, config, app.state_dir).ingest_paths(drops)
        assert not summary.failures
        matcher = ConversationMatcher(config)
        matcher.rematch(app.index, None)
        full = snapshot(app.index)
        assert full[0]
        return sorted(matcher.all_ids(app.index)), full
    finally:
        app.close()


@pytest.mark.parametrize("second", ["incremental", "full"])
def test_a_rematch_waits_for_one_of_the_same_conversations(
    ingested: tuple[list[str], tuple[list[str], list[str]]], pg_url: str, second: str
) -> None:
    """Worker A recomputes every conversation and has not committed yet when worker B starts
    recomputing them too (B is seen waiting on a lock, then A commits): B recomputes after
    A's links are in, and the index ends as after one full rematch. Without the subject
    locks a full B deletes only the links its statement saw (not A's new ones) and both
    sets stay (the `full` case fails so); an incremental B happens to wait on A's
    resolved_refs rows before it deletes, so that case holds even without them (the
    two-worker tests below are the ones that need the locks)."""
    ids, full = ingested
    matcher = ConversationMatcher(Config(index=IndexConfig(url=pg_url)))
    a, b = open_postgres(pg_url), open_postgres(pg_url)
    b_pid = int(b.scalar("SELECT pg_backend_pid()"))
    errors: list[BaseException] = []

    def run_b() -> None:
        try:
            matcher.rematch(b, set(ids) if second == "incremental" else None)
        except BaseException as exc:
            errors.append(exc)

    try:
        with a.write():
            matcher.rematch(a, set(ids))
            thread = threading.Thread(target=run_b)
            thread.start()
            wait_until(
                lambda: (
                    a.scalar("SELECT wait_event_type FROM pg_stat_activity WHERE pid = ?", (b_pid,))
                    == "Lock"
                ),
                what="B waiting on a lock",
            )
        thread.join(timeout=120)
        assert not errors, errors
        assert snapshot(a) == full
    finally:
        a.close()
        b.close()


def test_concurrent_rematches_of_overlapping_conversations_equal_a_full_one(
    ingested: tuple[list[str], tuple[list[str], list[str]]], pg_url: str
) -> None:
    """Four workers rematch overlapping sets of conversations at once, one of them a full
    rematch midway: the index ends as after one full rematch."""
    ids, full = ingested
    matcher = ConversationMatcher(Config(index=IndexConfig(url=pg_url)))
    start = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def work(number: int) -> None:
        pick = random.Random(number)
        index = open_postgres(pg_url)
        try:
            start.wait()
            for round_number in range(ROUNDS):
                if number == 0 and round_number == 1:
                    matcher.rematch(index, None)
                    continue
                # Overlapping sets: most conversations are in two or more workers' sets.
                matcher.rematch(index, set(pick.sample(ids, k=len(ids) * 3 // 4)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            index.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    index = open_postgres(pg_url)
    try:
        assert snapshot(index) == full
    finally:
        index.close()


# -- two real workers, one of them reading before the other's drop lands ------------------

RACE = "rematch.before_write:1:stop"


def mediasyncd_child(
    config: Path, state: Path, *args: str, fault: str = ""
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "MEDIASYNCD_FAULT"}
    if fault:
        env["MEDIASYNCD_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "mediasyncd", "--config", str(config), "--state-dir", str(state),
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT,
    )  # fmt: skip


def stopped(proc: subprocess.Popen[str]) -> bool:
    """The child froze itself (SIGSTOP at its fault point): state T in /proc."""
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def waits_on_a_lock(index: Index, proc: subprocess.Popen[str]) -> bool:
    """The child's connection waits on a lock (the subject locks of the frozen one)."""
    return bool(
        index.scalar(
            """SELECT COUNT(*) FROM pg_stat_activity
               WHERE application_name LIKE ? AND wait_event_type = 'Lock'""",
            (f"mediasyncd % {proc.pid}",),
        )
    )


def links_now(config: Path | None, state: Path) -> list[str]:
    where = ["--config", str(config)] if config else []
    done = run_mediasyncd(
        [*where, "--state-dir", str(state), "matches", "--format", "jsonl"],
        env={} if config else {"MEDIASYNCD_CONFIG": ""},
    )
    assert done.returncode == 0, done.stderr
    return sorted(done.stdout.splitlines())


def one_machine(tmp_path: Path, drops: list[Path]) -> list[str]:
    """The links of one SQLite machine ingesting `drops` in turn, then a full rematch."""
    state = tmp_path / "reference-state"
    for args in (["ingest", *map(str, drops)], ["rematch"]):
        done = run_mediasyncd(["--state-dir", str(state), *args], env={"MEDIASYNCD_CONFIG": ""})
        assert done.returncode == 0, done.stderr
    return links_now(None, state)


def race(tmp_path: Path, pg_url: str, config: Path, first: Path, second: Path) -> list[str]:
    """Worker A ingests `first` and freezes in its rematch with its links computed but not
    written; worker B ingests `second`, which touches the same subjects, and is left to
    run until it ends or waits on a lock; then A goes on. Returns the links after both."""
    state = tmp_path / "state"
    a = mediasyncd_child(config, state, "ingest", str(first), fault=RACE)
    b: subprocess.Popen[str] | None = None
    watcher = open_postgres(pg_url)
    try:
        wait_until(lambda: a.poll() is not None or stopped(a), what="A frozen in its rematch")
        assert a.poll() is None, a.communicate()
        b = mediasyncd_child(config, state, "ingest", str(second))
        wait_until(
            lambda: b is not None and (b.poll() is not None or waits_on_a_lock(watcher, b)),
            timeout=120,
            what="B done, or waiting for A",
        )
        os.kill(a.pid, signal.SIGCONT)
        for proc in (a, b):
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, out + err
    finally:
        watcher.close()
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    return links_now(config, state)


def shared_config(tmp_path: Path, pg_url: str) -> Path:
    config = tmp_path / "shared.toml"
    config.write_text(f'[index]\nurl = "{pg_url}"\n')
    return config


def test_two_workers_rematching_the_same_conversations_equal_a_full_rematch(
    tmp_path: Path, pg_url: str
) -> None:
    """Worker A ingests an export and has computed its conversations' links from it when
    worker B ingests the privacy archive of the same account (more files in the same
    conversations) and rematches them. A's links, read before B's files were there, must
    not overwrite B's: without the subject locks B finishes while A is frozen, and A then
    replaces the conversations' links with its older view (B's files unlinked)."""
    corpus = build_corpus(seed=3, n_conversations=40)
    plan = SplitPlan([DropSpec("B", True), DropSpec("P", True)])
    for conv in corpus.conversations:
        plan.conversation_drop[conv.id] = 0
    for asset in corpus.export_assets():
        plan.asset_drop[asset.uid] = 0
    for asset in corpus.privacy_assets():
        plan.privacy_drop[asset.uid] = 1
    export, privacy = (d.path for d in write_split(corpus, tmp_path / "drops", plan))
    expected = one_machine(tmp_path, [export, privacy])
    assert expected
    config = shared_config(tmp_path, pg_url)
    assert race(tmp_path, pg_url, config, export, privacy) == expected


def test_two_workers_rematching_the_same_user_equal_a_full_rematch(
    tmp_path: Path, pg_url: str
) -> None:
    """The trace matcher's users: alice's photo P1 is paired with trace T1. Worker A
    ingests a later trace T2 (P1 now pairs with T2) and has computed that when worker B
    ingests a second photo P2 (which then pairs with T1) and rematches alice. A's pairing,
    read before P2 was there, must not be written over B's: without the subject locks A
    adds its P1-T2 link again beside B's, a link a full rematch does not have twice."""
    photos = tmp_path / "meal-images" / "alice"
    photos.mkdir(parents=True)
    (photos / "IMG_20250131_163000.jpg").write_bytes(media_bytes(4000, "P1", "jpeg"))
    header = "id,timestamp,userId,name\n"
    (tmp_path / "t1.csv").write_text(header + "tr-1,2025-01-31T16:20:00Z,alice,analyse\n")
    config = shared_config(tmp_path, pg_url)
    first = run_mediasyncd(
        ["--config", str(config), "--state-dir", str(tmp_path / "state"), "ingest",
         str(tmp_path / "meal-images"), str(tmp_path / "t1.csv")]
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    (tmp_path / "t2.csv").write_text(header + "tr-2,2025-01-31T16:28:00Z,alice,analyse\n")
    later = tmp_path / "later" / "meal-images" / "alice"
    later.mkdir(parents=True)
    (later / "IMG_20250131_162500.jpg").write_bytes(media_bytes(4000, "P2", "jpeg"))
    expected = one_machine(
        tmp_path,
        [tmp_path / "meal-images", tmp_path / "t1.csv", tmp_path / "t2.csv", later.parent],
    )
    # P1 pairs with T2, P2 with T1: the smallest sum of gaps (2 + 5 minutes).
    pairs = {(Path(r["path"]).name, r["trace_id"]) for r in map(json.loads, expected)}
    assert pairs == {("IMG_20250131_163000.jpg", "tr-2"), ("IMG_20250131_162500.jpg", "tr-1")}
    assert len(expected) == 2
    assert race(tmp_path, pg_url, config, tmp_path / "t2.csv", later.parent) == expected
