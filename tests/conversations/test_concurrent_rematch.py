"""Workers rematching the same conversations at once (PostgreSQL) end where one full
rematch ends: the per-subject advisory locks serialize them (mediasyncd.index.advisory).

Without the locks, two workers recomputing one conversation each delete its old links and
insert new ones; neither sees the other's uncommitted rows, so both sets stay: duplicate
links (and a full rematch racing an incremental one loses links outright).
"""

from __future__ import annotations

import json
import random
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
    locks B waits only on A's deleted rows, never sees A's new ones, and both stay."""
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
