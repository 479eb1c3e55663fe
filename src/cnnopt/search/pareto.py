"""Pareto front and knee point of accuracy (higher is better) vs latency (lower is better).

Works on plain numbers so the search, the report and `cnnopt report` (which only has JSON)
share one definition of "on the front".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

KNEE_METHOD = (
    "knee = the front point farthest from the straight line joining the front's two extreme "
    "points, after scaling log10(latency) and accuracy each to 0..1 (the point where extra "
    "speed starts to cost the most accuracy)"
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

    With one or two front points there is no bend: the more accurate one is returned, the
    safe choice when the user gave no constraint.
    """
    if not front:
        return None
    if len(front) <= 2:
        return max(front, key=lambda i: (points[i][0], -points[i][1]))
    acc = [points[i][0] for i in front]
    lat = [math.log10(max(points[i][1], 1e-9)) for i in front]

    def scale(values: list[float]) -> list[float]:
        lo, hi = min(values), max(values)
        return [(v - lo) / (hi - lo) if hi > lo else 0.0 for v in values]

    xs, ys = scale(lat), scale(acc)
    # The front is sorted by latency, so its ends are the fastest and the most accurate point.
    x0, y0, x1, y1 = xs[0], ys[0], xs[-1], ys[-1]
    norm = math.hypot(x1 - x0, y1 - y0)
    if norm == 0:
        return front[0]
    distances = [
        abs((x1 - x0) * (y0 - y) - (x0 - x) * (y1 - y0)) / norm for x, y in zip(xs, ys, strict=True)
    ]
    best = max(range(len(front)), key=lambda k: (distances[k], ys[k]))
    if distances[best] == 0:  # a straight front has no knee: prefer accuracy
        return max(front, key=lambda i: (points[i][0], -points[i][1]))
    return front[best]
