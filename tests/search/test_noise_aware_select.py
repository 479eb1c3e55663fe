"""The recommendation weighs evidence: noise-level accuracy gains are ties, uncertain speed-ups
are none, and a candidate measurably slower than the baseline is never recommended."""

from __future__ import annotations

from cnnopt.record import Record
from cnnopt.search.results import build_results, summary_line
from cnnopt.search.select import recommend
from cnnopt.stats import pack_correct, wilson_interval

N = 120  # the validation set: 120 images


def _record(name: str, right: int, latency: float, speedup: dict | None = None) -> Record:
    """`right` of the N images classified correctly: the first ones (the baseline's 96
    plus, for a better candidate, the next few), so differences are paired for real."""
    correct = [i < right for i in range(N)]
    record = Record(
        name=name,
        accuracy=right / N,
        accuracy_images=N,
        latency_ms_p50=latency,
        extra={"correct": pack_correct(correct)},
    )
    if speedup is not None:
        record.extra["speedup"] = speedup
    if name == "baseline":  # how build_results finds it
        record.extra["single_technique"] = "baseline"
    return record


def _speed(ratio: float, low: float, high: float, search: float) -> dict:
    moved = abs(ratio / search - 1) > 0.25
    certain = low > 1 or high < 1
    return {"ratio": ratio, "low": low, "high": high, "certain": certain,
            "search_ratio": search, "moved": moved, "pairs": 8}  # fmt: skip


def test_a_slower_candidate_with_a_noise_level_gain_is_not_recommended() -> None:
    """The issue's case: '+ int8 on onnxruntime: 0.7x faster, +1.7 pt' (2 images of 120)."""
    base = _record("baseline", 96, 1.0)
    slower = _record("int8 on onnxruntime", 98, 1.43, _speed(0.7, 0.66, 0.74, 0.7))
    records = [base, slower]
    # the plain knee took it: 81.7 - log2(1.43) > 80
    assert recommend(records, None)["index"] == 1
    choice = recommend(records, 0)
    assert choice["index"] == 0, choice
    assert "120 validation images" in choice["reason"]
    results = build_results(records, {}, None)
    assert "the baseline itself" in summary_line(results)


def test_a_certain_speedup_at_equal_accuracy_beats_a_noisy_gain() -> None:
    base = _record("baseline", 96, 1.0)
    noisy = _record("noisy", 98, 0.95, _speed(1.05, 0.97, 1.12, 1.05))  # +1.7 pt, uncertain
    fast = _record("fast", 95, 0.33, _speed(3.0, 2.8, 3.2, 3.0))  # -0.8 pt (noise), 3x sure
    choice = recommend([base, noisy, fast], 0)
    assert choice["index"] == 2, choice
    line = summary_line(build_results([base, noisy, fast], {}, None))
    assert "3.0x faster (2.8-3.2x)" in line and "within noise" in line and "120 images" in line


def test_a_real_accuracy_gain_still_counts() -> None:
    base = _record("baseline", 80, 1.0)
    better = _record("better", 100, 1.0, _speed(1.0, 0.95, 1.05, 1.0))  # +16.7 pt, same speed
    assert recommend([base, better], 0)["index"] == 1


def test_a_timing_hiccup_in_the_search_is_flagged_not_headlined() -> None:
    """The baseline was timed during a busy moment (10 ms instead of 1): the search-time
    ratio says 11x; re-timed beside the baseline it is 1.1x and not certain."""
    base = _record("baseline", 96, 10.0)
    cand = _record("pruned", 96, 0.9, _speed(1.1, 0.9, 1.3, 11.1))
    results = build_results([base, cand], {}, None)
    line = summary_line(results)
    assert "11" not in line.split("[moved")[0], line  # the inflated ratio is no headline
    if results["recommended"]["index"] == 1:
        assert "not certain" in line and "moved: 11.1x in the search" in line
    else:
        assert "the baseline itself" in line


def test_without_evidence_the_old_knee_stands() -> None:
    base = Record(name="b", accuracy=0.95, latency_ms_p50=20.0)
    fast = Record(name="f", accuracy=0.948, latency_ms_p50=6.0)
    assert recommend([base, fast], 0)["index"] == 1


def test_a_baseline_at_chance_level_is_said_in_one_line() -> None:
    """The busy-host demo: 0.04 epoch of training, 10.12% on 10 classes, '325x faster'."""
    from cnnopt.search.results import chance_line

    for right, warned in ((13, True), (96, False)):
        base = _record("baseline", right, 1.0)
        base.accuracy_ci = list(wilson_interval(right, N))
        results = build_results([base], {"chance_accuracy": 0.1}, None)
        line = chance_line(results)
        assert bool(line) is warned, line
        if warned:
            assert "chance level (10.0%" in line and "--time-budget" in line


def test_no_real_speed_is_traded_for_a_noise_level_gain_between_candidates() -> None:
    """A is 0.8 pt more accurate than B on 120 images (1 image: noise) but B is certainly
    20% faster: the knee's rate alone (0.8 pt > log2 1.2) would take A."""
    base = _record("baseline", 60, 1.0)
    a = _record("a", 97, 0.5, _speed(2.0, 1.9, 2.1, 2.0))
    b = _record("b", 96, 0.42, _speed(2.4, 2.3, 2.5, 2.4))
    records = [base, a, b]
    assert recommend(records, 0)["index"] == 2
    c = _record("c", 80, 0.42, _speed(2.4, 2.3, 2.5, 2.4))  # faster, but 14 pt worse: real
    assert recommend([base, a, c], 0)["index"] == 1
