"""The 1-to-1 time pairing of one user's images with their traces.

The problem: images at times a_0 <= ... <= a_{n-1}, traces at b_0 <= ... <= b_{m-1}
(integer milliseconds); image i may pair with trace j when the gap fits the direction and
window ("before": 0 <= a_i - b_j <= W, the seed's rule; "after": 0 <= b_j - a_i <= W;
"nearest": |a_i - b_j| <= W). Choose a 1-to-1 set of pairs with as many pairs as possible
and, among those, the smallest sum of gaps. This is an assignment problem, but on a line
it has structure a general solver (Hungarian, scipy's linear_sum_assignment: cubic, and a
dense matrix per window component) would waste:

1. Non-crossing: two crossing pairs can be swapped into sorted order without making
   either infeasible or the sum of gaps larger (|x - y| is Monge on a line). So some
   optimum pairs the k-th chosen image with the k-th chosen trace.
2. "before" (and "after", mirrored): the sum of gaps of a matching is
   sum(chosen image times) - sum(chosen trace times), whatever pairs them. The images a
   maximum matching can cover form a matroid (transversal), so do the traces; and any
   coverable image set can be covered together with any coverable trace set of the same
   (maximum) size (Mendelsohn-Dulmage). So the optimum picks, independently, the earliest
   coverable images and the latest coverable traces, each by one greedy sweep with the
   earliest-deadline rule (exact on intervals sorted by both ends), and pairs them in
   order: O(n + m) after sorting, whatever the density.
3. "nearest": the gap no longer splits, so a dynamic program over non-crossing pairings
   (an alignment DP) is used, restricted to a band: in an optimum, every feasible trace
   strictly closer to image i than its partner is used by another image, and such images
   lie within 2W of a_i; so the partner is among the (c_i + 1) nearest feasible traces,
   c_i being the number of other images within 2W. The band is made monotone so each row
   of the DP only reads the previous row: O(sum of band widths) time and memory, i.e.
   linear for any realistic upload pattern.

Values are exact integers (pairs * BIG - total gap in ms), so ties are real ties and are
broken by position: the caller orders equal times by a stable key, which makes the result
a function of the data alone, not of arrival order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["before", "after", "nearest"]


@dataclass(frozen=True)
class Pair:
    """Image `image` (index into the images given) pairs with trace `trace`."""

    image: int
    trace: int
    gap_ms: int  # image time minus trace time


def pair_by_time(
    images: Sequence[int], traces: Sequence[int], direction: Direction, window_ms: int
) -> list[Pair]:
    """Maximum 1-to-1 pairing with the smallest sum of gaps; inputs sorted ascending."""
    if window_ms < 0:
        raise ValueError("window_ms must not be negative")
    _check_sorted(images, "images")
    _check_sorted(traces, "traces")
    if not images or not traces:
        return []
    if direction == "before":
        return _one_sided(images, traces, window_ms)
    if direction == "after":
        n, m = len(images), len(traces)
        mirrored = _one_sided(
            [-t for t in reversed(images)], [-t for t in reversed(traces)], window_ms
        )
        pairs = [Pair(n - 1 - p.image, m - 1 - p.trace, -p.gap_ms) for p in mirrored]
        pairs.reverse()
        return pairs
    if direction == "nearest":
        return pair_by_dp(images, traces, direction, window_ms)
    raise ValueError(f"unknown direction {direction!r}")


def _check_sorted(times: Sequence[int], what: str) -> None:
    for k in range(1, len(times)):
        if times[k] < times[k - 1]:
            raise ValueError(f"{what} must be sorted by time")


def _one_sided(a: Sequence[int], b: Sequence[int], window: int) -> list[Pair]:
    """'before': 0 <= a_i - b_j <= window. Exact by the matroid argument in the module doc."""
    n, m = len(a), len(b)
    # Earliest coverable images: sweep images forward, give each the earliest trace still
    # free and in its window (the one that expires first). Used traces are always the
    # earliest live ones, so "free" is a single pointer.
    chosen_images: list[int] = []
    t = 0
    for i in range(n):
        while t < m and b[t] < a[i] - window:
            t += 1
        if t < m and b[t] <= a[i]:
            chosen_images.append(i)
            t += 1
    # Latest coverable traces: the mirror sweep, traces backward, latest free image.
    chosen_traces: list[int] = []
    s = n - 1
    for j in range(m - 1, -1, -1):
        while s >= 0 and a[s] > b[j] + window:
            s -= 1
        if s >= 0 and a[s] >= b[j]:
            chosen_traces.append(j)
            s -= 1
    chosen_traces.reverse()
    if len(chosen_images) != len(chosen_traces):  # pragma: no cover - the theory says never
        return pair_by_dp(a, b, "before", window)
    return [Pair(i, j, a[i] - b[j]) for i, j in zip(chosen_images, chosen_traces, strict=True)]


def _windows(
    a: Sequence[int], b: Sequence[int], direction: Direction, window: int
) -> tuple[list[int], list[int]]:
    """Per image, the feasible trace index range [lo, hi] (empty when hi < lo)."""
    before = direction in ("before", "nearest")
    after = direction in ("after", "nearest")
    lo = [bisect_left(b, x - window if before else x) for x in a]
    hi = [bisect_right(b, x + window if after else x) - 1 for x in a]
    return lo, hi


def _banded(
    a: Sequence[int], b: Sequence[int], direction: Direction, window: int
) -> tuple[list[int], list[int]]:
    """Candidate ranges: the c_i + 1 nearest feasible traces, widened to be monotone."""
    lo, hi = _windows(a, b, direction, window)
    n = len(a)
    plo, phi = list(lo), list(hi)
    for i, x in enumerate(a):
        if hi[i] < lo[i]:
            continue
        rivals = bisect_right(a, x + 2 * window) - bisect_left(a, x - 2 * window) - 1
        keep = rivals + 1
        if hi[i] - lo[i] + 1 <= keep:
            continue
        # Walk outwards from x, nearest first, to the keep-th nearest distance.
        right = min(max(bisect_left(b, x, lo[i], hi[i] + 1), lo[i]), hi[i] + 1)
        left = right - 1
        reach = 0
        for _ in range(keep):
            dl = x - b[left] if left >= lo[i] else None
            dr = b[right] - x if right <= hi[i] else None
            if dr is None or (dl is not None and dl <= dr):
                reach = dl if dl is not None else 0
                left -= 1
            else:
                reach = dr
                right += 1
        # Every trace at that distance or closer is a candidate (ties included).
        plo[i] = bisect_left(b, x - reach, lo[i], hi[i] + 1)
        phi[i] = bisect_right(b, x + reach, lo[i], hi[i] + 1) - 1
    for i in range(n - 2, -1, -1):
        plo[i] = min(plo[i], plo[i + 1])
    for i in range(1, n):
        phi[i] = max(phi[i], phi[i - 1])
    return plo, phi


@dataclass
class _Row:
    base: int  # the column of values[0]: lo - 1
    hi: int
    values: list[int]
    # For each column: the trace image i takes in the best prefix solution, or -1 when
    # the best leaves image i unpaired (the value comes from the row before).
    choice: list[int]


def pair_by_dp(a: Sequence[int], b: Sequence[int], direction: Direction, window: int) -> list[Pair]:
    """Exact banded DP over non-crossing pairings (any direction; used for 'nearest').

    g(i, j) = best value using images 0..i and traces 0..j;
    g(i, j) = max(g(i-1, j), max over candidate j' <= j of g(i-1, j'-1) + BIG - |a_i - b_j'|).
    Row i is kept on columns [lo_i - 1, hi_i]; beyond hi_i it is constant (no earlier row
    reaches further, the bands being monotone).
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return []
    lo, hi = _banded(a, b, direction, window)
    big = window * n + 1  # one more pair always beats any saving in total gap
    rows: list[_Row] = []
    prev: _Row | None = None
    for i in range(n):
        base = lo[i] - 1
        width = hi[i] - base + 1
        values = [0] * width
        choice = [-1] * width
        best = 0
        best_col = -1
        x = a[i]
        for k in range(width):
            j = base + k
            if j >= lo[i]:
                gain = _value(prev, j - 1) + big - abs(x - b[j])
                if best_col < 0 or gain > best:
                    best, best_col = gain, j
            inherited = _value(prev, j)
            if best_col >= 0 and best > inherited:
                values[k] = best
                choice[k] = best_col
            else:
                values[k] = inherited
        prev = _Row(base, hi[i], values, choice)
        rows.append(prev)
    pairs: list[Pair] = []
    i, j = n - 1, m - 1
    while i >= 0 and j >= 0:
        row = rows[i]
        j = min(j, row.hi)
        if j < row.base:  # pragma: no cover - bands are monotone, so never
            raise AssertionError("column left the band")
        taken = row.choice[j - row.base]
        if taken >= 0:
            pairs.append(Pair(i, taken, a[i] - b[taken]))
            j = taken - 1
        i -= 1
    pairs.reverse()
    return pairs


def _value(row: _Row | None, j: int) -> int:
    if row is None or j < 0:
        return 0
    j = min(j, row.hi)
    return row.values[j - row.base]
