"""Pareto front and knee point of accuracy (higher is better) vs latency (lower is better).

Works on plain numbers so the search, the report and `cnnopt report` (which only has JSON)
share one definition of "on the front".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# One point of accuracy is worth one doubling of speed: the exchange rate that defines the knee.
POINTS_PER_DOUBLING = 1.0
KNEE_METHOD = (
    "knee = the front point with the best trade at a fixed rate of one accuracy point per "
    "doubling of speed, i.e. the highest (accuracy in points - log2(latency)); where the front "
    "bends, extra speed starts to cost more than a point per 2x, so the knee sits at the bend"
)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a = (accuracy, latency, [size...]): at least as good everywhere and better somewhere."""
    better_or_equal = a[0] >= b[0] and all(x <= y for x, y in zip(a[1:], b[1:], strict=True))
    strictly = a[0] > b[0] or any(x < y for x, y in zip(a[1:], b[1:], strict=True))
    return better_or_equal and strictly


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points, sorted by latency (fastest first).

    Exact duplicates are all kept: two candidates with the same numbers are equally good.
    """
    front = [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p) for j, q in enumerate(points) if j != i)
    ]
    return sorted(front, key=lambda i: (points[i][1], -points[i][0]))


def knee_point(points: Sequence[Sequence[float]], front: Sequence[int]) -> int | None:
    """The knee of the front (see KNEE_METHOD); None for an empty front.

    A fixed exchange rate, not the front's own scale: scaling each axis to 0..1 turns a 10%
    latency difference into a full unit, so a front of near-equal latencies would pick a point
    that loses many accuracy points for almost no speed. Ties go to the more accurate point.
    """
    if not front:
        return None

    def score(i: int) -> tuple[float, float]:
        accuracy, latency = points[i][0], max(points[i][1], 1e-9)
        return (100 * accuracy - POINTS_PER_DOUBLING * math.log2(latency), accuracy)

    return max(front, key=score)
