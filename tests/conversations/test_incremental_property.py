"""The defining invariant of incremental matching (docs/architecture.md, "Matching"),
with Hypothesis:
for random splits of a generated corpus across several drops (exports of any era, zip or
folder, some carrying an older version of a conversation, and privacy archives), ingested
one by one in a random order, the matches and unresolved references equal those after a
full `mediasyncd rematch` over the same data.

Default run: DEFAULT_EXAMPLES examples (about 20 s on 2 cores); the `slow` variant runs
SLOW_EXAMPLES and only when selected (`pytest -m slow`).
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support.chatgpt_corpus import (
    Corpus,
    DropSpec,
    SplitPlan,
    build_corpus,
    cli,
    cli_records,
    expected,
    ingest_cli,
    write_split,
)

DEFAULT_EXAMPLES = 40
SLOW_EXAMPLES = 400
# Enough for the showcase conversations (every strategy) to be in every corpus.
CONVERSATIONS = 34


@functools.lru_cache(maxsize=64)
def corpus_for(seed: int) -> Corpus:
    return build_corpus(seed, CONVERSATIONS)


@dataclass(frozen=True)
class Case:
    """A split, as plain numbers (a small repr when Hypothesis reports it)."""

    seed: int
    drops: tuple[tuple[str, bool], ...]  # (era or "P", zipped)
    conversation_slots: tuple[int, ...]
    earlier_slots: tuple[int | None, ...]
    asset_slots: tuple[int, ...]
    privacy_slots: tuple[int, ...]
    order: tuple[int, ...]

    def plan(self) -> tuple[Corpus, SplitPlan]:
        corpus = corpus_for(self.seed)
        plan = SplitPlan([DropSpec(era, zipped) for era, zipped in self.drops])
        for conv, slot, earlier in zip(
            corpus.conversations, self.conversation_slots, self.earlier_slots, strict=True
        ):
            plan.conversation_drop[conv.id] = slot
            if earlier is not None and conv.turns > 1:
                plan.earlier_drop[conv.id] = earlier
        for asset, slot in zip(corpus.export_assets(), self.asset_slots, strict=True):
            plan.asset_drop[asset.uid] = slot
        for asset, slot in zip(corpus.privacy_assets(), self.privacy_slots, strict=True):
            plan.privacy_drop[asset.uid] = slot
        return corpus, plan


@st.composite
def cases(draw: st.DrawFn) -> Case:
    seed = draw(st.integers(0, 40))
    corpus = corpus_for(seed)
    exports = draw(st.integers(1, 3))
    archives = draw(st.integers(1, 2))
    drops = tuple((draw(st.sampled_from("ABC")), draw(st.booleans())) for _ in range(exports))
    drops += tuple(("P", draw(st.booleans())) for _ in range(archives))
    slot = st.integers(0, exports - 1)
    n = len(corpus.conversations)

    def slots(strategy: st.SearchStrategy[Any], size: int) -> tuple[Any, ...]:
        return tuple(draw(st.lists(strategy, min_size=size, max_size=size)))

    return Case(
        seed,
        drops,
        slots(slot, n),
        slots(st.one_of(st.none(), st.none(), st.none(), slot), n),
        slots(slot, len(corpus.export_assets())),
        slots(st.integers(exports, exports + archives - 1), len(corpus.privacy_assets())),
        tuple(draw(st.permutations(range(len(drops))))),
    )


def snapshot(state: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return cli_records(state, "matches"), cli_records(state, "unresolved")


def incremental_equals_full_rematch(case: Case) -> None:
    corpus, plan = case.plan()
    order = case.order
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        drops = write_split(corpus, root / "drops", plan)
        state = root / "state"
        for index in order:
            summary = ingest_cli(state, drops[index].path)
            assert summary["exit"] == 0, summary["failures"]
        incremental = snapshot(state)
        code, _ = cli(state, "rematch", "--json")
        assert code == 0
        full = snapshot(state)
        assert incremental[0] == full[0], "matches differ after a full rematch"
        assert incremental[1] == full[1], "unresolved references differ after a full rematch"


@settings(
    max_examples=DEFAULT_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Shrinking re-ingests hundreds of splits (minutes); the failing case is printed as is.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(cases())
def test_incremental_ingests_equal_a_full_rematch(case: Case) -> None:
    """Random splits and orders of a corpus across drops: incremental == full rematch."""
    incremental_equals_full_rematch(case)


@pytest.fixture
def slow_selected(request: pytest.FixtureRequest) -> None:
    """The many-examples variant runs only when asked for with `-m slow`."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("run with -m slow")


@pytest.mark.slow
@settings(
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Shrinking re-ingests hundreds of splits (minutes); the failing case is printed as is.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(cases())
def test_incremental_ingests_equal_a_full_rematch_many_examples(
    slow_selected: None, case: Case
) -> None:
    """The same invariant over many more splits and orders (run with -m slow)."""
    incremental_equals_full_rematch(case)


def test_a_later_pointer_of_the_same_size_withdraws_a_size_link(tmp_path: Path) -> None:
    """Size links depend on the whole index (exactly one generated pointer of that size):
    an export linking an id-less DALL·E file by size, then a second export whose
    conversation has another generated pointer of the same size. The link must go at
    once, as a full rematch (and the truth) say, not only after `rematch`."""
    # The first seed whose id-less DALL·E file has a rival pointer of its size (the
    # generator's size tie); seed 0 has one.
    corpus = corpus_for(0)
    file = next(a for a in corpus.assets if a.export == "no_id")
    rival = next(
        c.id
        for c in corpus.conversations
        for r in c.refs()
        if r.size_bytes == file.size and c.id != file.conversation_id
    )
    plan = SplitPlan([DropSpec("B", True), DropSpec("B", True)])
    plan.conversation_drop = {file.conversation_id or "": 0, rival: 1}
    plan.asset_drop = {file.uid: 0}
    drops = write_split(corpus, tmp_path / "drops", plan)
    state = tmp_path / "state"
    assert ingest_cli(state, drops[0].path)["exit"] == 0
    assert {r["strategy"] for r in cli_records(state, "matches") if r["digest"] == file.digest} == {
        "size"
    }
    assert ingest_cli(state, drops[1].path)["exit"] == 0
    linked = [r for r in cli_records(state, "matches") if r["digest"] == file.digest]
    assert expected(drops).links_for(file.digest) == set()
    assert linked == [], "a size link survived a second pointer of the same size"
