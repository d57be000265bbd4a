"""The 1-to-1 time pairing: exact against brute force, deterministic, and the seed's rule."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediasyncd.traces.pairing import Direction, Pair, pair_by_dp, pair_by_time

DIRECTIONS: tuple[Direction, ...] = ("before", "after", "nearest")


def feasible(direction: str, image: int, trace: int, window: int) -> bool:
    gap = image - trace
    if direction == "before":
        return 0 <= gap <= window
    if direction == "after":
        return 0 <= -gap <= window
    return abs(gap) <= window


def brute_force(
    images: Sequence[int], traces: Sequence[int], direction: str, window: int
) -> tuple[int, int]:
    """(most pairs, least total gap among those) by trying every matching."""
    best = (0, 0)

    def walk(i: int, used: int, pairs: int, cost: int) -> None:
        nonlocal best
        if i == len(images):
            if (pairs, -cost) > (best[0], -best[1]):
                best = (pairs, cost)
            return
        walk(i + 1, used, pairs, cost)
        for j, trace in enumerate(traces):
            if not used & (1 << j) and feasible(direction, images[i], trace, window):
                walk(i + 1, used | (1 << j), pairs + 1, cost + abs(images[i] - trace))

    walk(0, 0, 0, 0)
    return best


def score(pairs: list[Pair]) -> tuple[int, int]:
    return len(pairs), sum(abs(p.gap_ms) for p in pairs)


def check_valid(
    pairs: list[Pair], images: Sequence[int], traces: Sequence[int], direction: str, window: int
) -> None:
    assert len({p.image for p in pairs}) == len(pairs)
    assert len({p.trace for p in pairs}) == len(pairs)
    for p in pairs:
        assert p.gap_ms == images[p.image] - traces[p.trace]
        assert feasible(direction, images[p.image], traces[p.trace], window)


times = st.lists(st.integers(0, 120), max_size=6).map(sorted)


@settings(max_examples=400, deadline=None)
@given(times, times, st.integers(0, 60), st.sampled_from(DIRECTIONS))
def test_optimal_against_brute_force(
    images: list[int], traces: list[int], window: int, direction: Direction
) -> None:
    """Most pairs first, then the smallest sum of gaps: equal to trying every matching,
    for the fast path of each direction and for the banded DP alike."""
    expected = brute_force(images, traces, direction, window)
    fast = pair_by_time(images, traces, direction, window)
    check_valid(fast, images, traces, direction, window)
    assert score(fast) == expected
    dp = pair_by_dp(images, traces, direction, window)
    check_valid(dp, images, traces, direction, window)
    assert score(dp) == expected


def test_seed_rule_closest_trace_before() -> None:
    """Default direction: each image takes the closest trace before it, one-to-one."""
    traces = [0, 100_000, 290_000]
    images = [5_000, 300_000]
    pairs = pair_by_time(images, traces, "before", 600_000)
    assert [(p.image, p.trace, p.gap_ms) for p in pairs] == [(0, 0, 5_000), (1, 2, 10_000)]


def test_one_to_one_leaves_extra_images_unpaired() -> None:
    """Two images after one trace: the earlier image gets it, the later one stays unpaired."""
    pairs = pair_by_time([10_000, 20_000], [0], "before", 600_000)
    assert [(p.image, p.trace) for p in pairs] == [(0, 0)]


def test_window_is_inclusive_and_strict_outside() -> None:
    """A gap equal to the window pairs; one millisecond more does not."""
    assert len(pair_by_time([600_000], [0], "before", 600_000)) == 1
    assert pair_by_time([600_001], [0], "before", 600_000) == []


def test_after_and_nearest_directions() -> None:
    """'after' looks forward only; 'nearest' takes whichever side is closer."""
    images, traces = [100_000], [40_000, 130_000]
    assert pair_by_time(images, traces, "after", 600_000)[0].trace == 1
    assert pair_by_time(images, traces, "before", 600_000)[0].trace == 0
    nearest = pair_by_time(images, traces, "nearest", 600_000)[0]
    assert (nearest.trace, nearest.gap_ms) == (1, -30_000)


def test_ties_are_deterministic() -> None:
    """Equal times give the same answer on every call (ties broken by position)."""
    images = [1000, 1000, 1000]
    traces = [0, 0, 500, 500, 1500, 1500]
    for direction in DIRECTIONS:
        first = pair_by_time(images, traces, direction, 5000)
        for _ in range(3):
            assert pair_by_time(images, traces, direction, 5000) == first
        assert len(first) == (2 if direction == "after" else 3)


def test_rejects_unsorted_input() -> None:
    """The caller must sort (it owns the tie-break key): unsorted times are refused."""
    with pytest.raises(ValueError, match="sorted"):
        pair_by_time([5, 1], [0], "before", 10)
    with pytest.raises(ValueError, match="direction"):
        pair_by_time([5], [0], "sideways", 10)  # type: ignore[arg-type]


def test_dense_user_is_exact_and_fast_path_handles_crowding() -> None:
    """Many images competing for a few traces in one window: still one-to-one and optimal
    (a crowd where a greedy 'nearest trace for each image' would double-book)."""
    images = [1000 * k for k in range(1, 30)]
    traces = [500 * k for k in range(0, 40, 3)]
    for direction in DIRECTIONS:
        fast = pair_by_time(images, traces, direction, 4000)
        check_valid(fast, images, traces, direction, 4000)
        assert score(fast) == score(pair_by_dp(images, traces, direction, 4000))
