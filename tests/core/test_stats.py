"""cnnopt.stats against reference answers: intervals, paired differences, packed bits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.stats import (
    pack_correct,
    paired_difference,
    ratio_interval,
    relative_spread,
    unpack_correct,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # reference values: statsmodels proportion_confint(method="wilson")
        (8, 10, 0.4901624, 0.9433178),
        (0, 10, 0.0, 0.2775328),
        (60, 120, 0.4119387, 0.5880613),
    ],
)
def test_wilson_matches_the_reference(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=1e-6)


def test_two_images_out_of_120_is_noise_and_fifteen_is_not() -> None:
    """The issue's case: '+1.7 pt' from 2 images of 120 validation images."""
    base = [True] * 96 + [False] * 24
    two = list(base)
    two[100] = two[101] = True
    noise = paired_difference(base, two)
    assert noise.difference == pytest.approx(2 / 120)
    assert noise.low < 0 < noise.high and not noise.significant
    fifteen = list(base)
    for i in range(96, 111):
        fifteen[i] = True
    real = paired_difference(base, fifteen)
    assert real.significant and real.low > 0
    flipped = paired_difference(fifteen, base)  # B - A changes sign, same width
    assert flipped.high < 0 and flipped.difference == pytest.approx(-real.difference)


def test_same_accuracy_on_different_images_is_not_a_difference() -> None:
    a = [True] * 50 + [False] * 50
    b = [False] * 50 + [True] * 50  # each right where the other is wrong
    diff = paired_difference(a, b)
    assert diff.difference == 0 and not diff.significant and diff.b_only == diff.a_only == 50


@settings(max_examples=50, deadline=None)
@given(st.lists(st.booleans(), max_size=300))
def test_packed_correctness_round_trips(correct: list[bool]) -> None:
    packed = pack_correct(correct)
    assert unpack_correct(packed, len(correct)) == correct
    assert len(packed) <= 4 * math.ceil(len(correct) / 8 / 3) + 4


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.1, 10.0), min_size=1, max_size=40))
def test_ratio_interval_holds_the_median(ratios: list[float]) -> None:
    centre, low, high = ratio_interval(ratios)
    assert min(ratios) <= low <= centre <= high <= max(ratios)
    if len(ratios) < 6:
        assert (low, high) == (min(ratios), max(ratios))


def test_ratio_interval_order_statistics_cover_the_median() -> None:
    """With 20 pairs the 95% interval of the median runs from the 6th to the 15th ratio:
    the binomial probability that the true median lies outside is below 5%."""
    ratios = [float(i) for i in range(1, 21)]
    _, low, high = ratio_interval(ratios)
    low_rank, high_rank = ratios.index(low), ratios.index(high)
    outside = sum(math.comb(20, k) for k in range(0, low_rank + 1)) * 2 / 2**20
    assert outside < 0.05
    assert (low_rank, high_rank) == (5, 14)


def test_relative_spread() -> None:
    assert relative_spread([1.0, 1.1, 0.9]) == pytest.approx(0.2)
    assert relative_spread([2.0]) == 0.0
