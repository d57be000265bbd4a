"""The defining invariant for traces: incremental results equal a full rematch.

Random users are split into random drops (folders and zips of photos, each with its own
listing; trace files in every export shape, some traces in two files), ingested in a
random order. After each ingest a full rematch must change nothing, and the end result
must equal ingesting everything as one dump and one trace file.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediasyncd.app import App
from mediasyncd.config import Config, StoreConfig, TracesConfig
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.traces.matcher import TraceMatcher
from tests.support.traces_gen import Scenario, generate_users, write_dump, write_traces

SHAPES = {"page": "json", "array": "json", "jsonl": "jsonl", "csv": "csv"}


def config_for(direction: str) -> Config:
    return dataclasses.replace(
        Config(),
        store=StoreConfig(fsync=False),
        traces=TracesConfig(direction=direction),  # type: ignore[arg-type]
    )


def snapshot(app: App) -> set[tuple[Any, ...]]:
    """Every trace link, by content (not by row id or drop path)."""
    rows = set()
    for user, trace_id, digest, strategy, confidence, detail in app.index.execute(
        """SELECT user_id, trace_id, digest, strategy, confidence, detail FROM matches
           WHERE subject = 'trace'"""
    ):
        data = json.loads(detail)
        rows.add(
            (user, trace_id, digest, strategy, confidence, data["image_key"], data["gap_seconds"])
        )
    return rows


def split(items: list[Any], parts: int, rng: random.Random) -> list[list[Any]]:
    groups: list[list[Any]] = [[] for _ in range(parts)]
    for item in items:
        groups[rng.randrange(parts)].append(item)
    return [g for g in groups if g]


def build_drops(root: Path, scenario: Scenario, rng: random.Random) -> list[Path]:
    drops: list[Path] = []
    for n, photos in enumerate(split(scenario.photos, rng.randint(1, 3), rng)):
        as_zip = rng.random() < 0.5
        target = root / (f"dump{n}.zip" if as_zip else f"dump{n}")
        drops.append(write_dump(target, photos, scenario.listing(photos), as_zip=as_zip))
    traces = list(scenario.traces)
    for n, group in enumerate(split(traces, rng.randint(1, 3), rng)):
        extra = [rng.choice(traces)] if rng.random() < 0.5 else []  # overlapping exports
        shape = rng.choice(sorted(SHAPES))
        drops.append(write_traces(root / f"traces{n}.{SHAPES[shape]}", group + extra, shape))
    rng.shuffle(drops)
    return drops


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    users=st.integers(1, 3),
    order=st.randoms(use_true_random=False),
    direction=st.sampled_from(["before", "after", "nearest"]),
)
def test_incremental_equals_full_rematch(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    users: int,
    order: random.Random,
    direction: str,
) -> None:
    """Random splits and orders of drops: after every ingest a full rematch adds and
    removes nothing, and the end equals one dump plus one trace file."""
    scenario = generate_users(
        seed, users, days=1, prompt_photos=3, late_photos=1, lone_traces=2, near_misses=0.6
    )
    root = tmp_path_factory.mktemp("incremental")
    config = config_for(direction)
    app = App(config, root / "state")
    try:
        ingester = Ingester(app.index, app.store, config, app.state_dir)
        for path in build_drops(root / "drops", scenario, order):
            ingester.ingest_paths([path])
            before = snapshot(app)
            delta = TraceMatcher(config).rematch(app.index, None)
            assert (delta.added, delta.removed) == (0, 0), path.name
            assert snapshot(app) == before
        incremental = snapshot(app)
    finally:
        app.close()
    whole = App(config, root / "whole-state")
    try:
        Ingester(whole.index, whole.store, config, whole.state_dir).ingest_paths(
            [
                write_dump(root / "whole" / "dump", scenario.photos, scenario.listing()),
                write_traces(root / "whole" / "traces.jsonl", scenario.traces, "jsonl"),
            ]
        )
        assert incremental == snapshot(whole)
    finally:
        whole.close()
