"""Next month's export rematches what it adds (issue 14): a new drop that brings again
the files an ingested one had, under the same member paths, adds no (key, file) the index
did not hold, so only the conversations it adds or changes are recomputed; the links
still equal a full `mediasyncd rematch`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import ingest_json, run_in_state
from tests.support.chatgpt_corpus import build_corpus, cli_records, write_export

CONVERSATIONS = 30
ADDED = 3


def test_next_months_export_rematches_only_what_it_adds(tmp_path: Path) -> None:
    corpus = build_corpus(seed=1405, n_conversations=CONVERSATIONS)
    later_ids = {c.id for c in corpus.conversations[-ADDED:]}
    earlier = corpus.conversations[:-ADDED]
    assets = [a for a in corpus.assets if a.conversation_id not in later_ids]
    first = write_export(
        corpus, tmp_path / "may", "A", conversations=earlier, assets=assets, name="export"
    )
    second = write_export(corpus, tmp_path / "june", "A", name="export")
    state = tmp_path / "state"
    assert ingest_json(state, first.path)[0] == 0
    code, summary = ingest_json(state, second.path)
    assert code == 0
    assert summary["conversations_new"] == ADDED
    assert summary["conversations_changed"] == 0
    # The added conversations, and at most a few whose links they can change (a text
    # mention of a name an added file also has): not every conversation of the export.
    assert ADDED <= summary["rematched_conversations"] <= 2 * ADDED, summary

    links = _links(state)
    full = run_in_state(state, "rematch", "--json")
    assert full.returncode == 0, full.stderr
    assert '"matches_added": 0' in full.stdout and '"matches_removed": 0' in full.stdout
    assert _links(state) == links


def test_a_copy_of_an_ingested_export_rematches_nothing(tmp_path: Path) -> None:
    corpus = build_corpus(seed=1406, n_conversations=12)
    drop = write_export(corpus, tmp_path / "a", "A", name="export")
    copy = write_export(corpus, tmp_path / "b", "A", name="export")
    state = tmp_path / "state"
    assert ingest_json(state, drop.path)[0] == 0
    code, summary = ingest_json(state, copy.path)
    assert code == 0
    assert summary["rematched_conversations"] == 0, summary
    assert summary["blobs_new"] == 0


def _links(state: Path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in cli_records(state, "matches"))
