"""How sure a measured number is: accuracy intervals, paired accuracy differences, and
speed-up intervals from repeated timing blocks.

A search compares dozens of candidates on a few hundred validation images and on timings
taken seconds apart on a machine that may be busy. Without an interval, 2 images out of 120
read as "+1.7 pt" and one slow moment as "1590x faster". Everything here is plain arithmetic
on counts and lists (no SciPy), so the search, the report and `cnnopt report` share it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion: unlike the normal one it stays inside
    [0, 1] and is honest at 0% or 100% and for small counts."""
    if total <= 0:
        return (0.0, 1.0)
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class PairedDifference:
    """Accuracy of B minus accuracy of A on the same images, with a 95% interval.

    Only the images the two disagree on carry information (b: B right and A wrong, c: the
    reverse); the interval is the matched-pairs (McNemar-style) normal interval of (b - c)/n,
    with a continuity margin of one image, so a handful of discordant images never looks
    significant.
    """

    difference: float  # fraction, B - A
    low: float
    high: float
    images: int
    b_only: int  # images only B classifies correctly
    a_only: int  # images only A classifies correctly

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the two accuracies really differ."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}


def paired_difference(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> PairedDifference:
    """B's accuracy minus A's on the same images (see PairedDifference)."""
    if len(correct_a) != len(correct_b):
        raise ValueError(f"different image counts: {len(correct_a)} and {len(correct_b)}")
    n = len(correct_a)
    b = sum(1 for x, y in zip(correct_a, correct_b, strict=True) if y and not x)
    c = sum(1 for x, y in zip(correct_a, correct_b, strict=True) if x and not y)
    if n == 0:
        return PairedDifference(0.0, -1.0, 1.0, 0, 0, 0)
    diff = (b - c) / n
    variance = max(b + c - (b - c) ** 2 / n, 0.0) / (n * n)
    half = Z95 * math.sqrt(variance) + 1.0 / n
    return PairedDifference(diff, max(-1.0, diff - half), min(1.0, diff + half), n, b, c)


def pack_correct(correct: Sequence[bool]) -> str:
    """Per-image correctness as base64 bits (1.3 KB for 10,000 images), small enough to keep
    in every record so any two candidates can be compared image by image later."""
    data = bytearray((len(correct) + 7) // 8)
    for i, ok in enumerate(correct):
        if ok:
            data[i // 8] |= 1 << (i % 8)
    return base64.b64encode(bytes(data)).decode("ascii")


def unpack_correct(packed: str, count: int) -> list[bool]:
    data = base64.b64decode(packed.encode("ascii"))
    if len(data) * 8 < count:
        raise ValueError(f"packed correctness holds {len(data) * 8} bits, {count} asked")
    return [bool(data[i // 8] >> (i % 8) & 1) for i in range(count)]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) / median: how far repeated measurements of one thing disagree."""
    if len(values) < 2:
        return 0.0
    centre = median(values)
    return (max(values) - min(values)) / centre if centre > 0 else float("inf")


def ratio_interval(pair_ratios: Sequence[float]) -> tuple[float, float, float]:
    """(median, low, high) of per-pair speed-up ratios from interleaved timing blocks.

    Each ratio compares a baseline block with the candidate block right beside it, so a
    slow moment of the machine hits both and cancels. The interval is the order-statistic
    95% confidence interval of the median (binomial ranks), widened to the observed range
    when there are too few pairs for one: with 5 pairs the range itself is the ~94% interval.
    """
    ordered = sorted(pair_ratios)
    n = len(ordered)
    if n == 0:
        raise ValueError("no timing pairs")
    centre = median(ordered)
    if n < 6:
        return centre, ordered[0], ordered[-1]
    half = Z95 * math.sqrt(n) / 2
    low_rank = max(0, math.floor(n / 2 - half))
    high_rank = min(n - 1, math.ceil(n / 2 + half) - 1)
    return centre, ordered[low_rank], ordered[high_rank]
