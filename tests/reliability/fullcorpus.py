"""One drop of every kind mediasyncd reads, from the project's generators: a ChatGPT export
(era A zip) with its privacy-request archive (tests/support/chatgpt_corpus.py), and an image dump
with its Langfuse trace export (tests/support/traces_gen.py). Small enough for a crash sweep,
rich enough that every reader, matcher and rematch step has work to do.

`links_snapshot` is what "the same matches" means: every conversation link, unresolved
reference and photo-trace pair, as sorted JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path
from typing import Any

from mediasyncd.index import Index
from mediasyncd.index.reports import iter_matches, iter_unresolved
from mediasyncd.traces.report import iter_trace_pairs
from tests.support.chatgpt_corpus import build_corpus, write_export, write_privacy_archive
from tests.support.traces_gen import generate_users, write_dump, write_traces


def write_full_corpus(drops: Path, *, seed: int = 11) -> list[Path]:
    """The four drops under `drops` (created); returns their paths."""
    drops.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(seed=seed, n_conversations=12)
    export = write_export(corpus, drops, "A")
    privacy = write_privacy_archive(corpus, drops)
    scenario = generate_users(seed, 2, days=2, prompt_photos=3)
    dump = write_dump(drops / "meal-dump.zip", scenario.photos, scenario.listing(), as_zip=True)
    traces = write_traces(drops / "langfuse-traces.jsonl", scenario.traces, "jsonl")
    return [export.path, privacy.path, dump, traces]


def links_snapshot(index: Index) -> dict[str, list[str]]:
    """Every match, unresolved reference and photo-trace pair, order-free."""

    def dump(records: Iterable[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True, default=str) for r in records)

    return {
        "matches": dump(iter_matches(index)),
        "unresolved": dump(iter_unresolved(index)),
        "trace_pairs": dump(iter_trace_pairs(index, UTC)),
    }
