"""Pareto front, knee point and the recommendation rule, on hand-made and random points."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.record import Record
from cnnopt.search.pareto import dominates, knee_point, pareto_front
from cnnopt.search.select import Constraints, front_indices, recommend


def test_front_keeps_only_non_dominated_points_fastest_first() -> None:
    points = [(0.90, 10.0), (0.89, 5.0), (0.80, 6.0), (0.70, 1.0), (0.90, 12.0)]
    assert pareto_front(points) == [3, 1, 0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0.01, 1000)), min_size=1, max_size=25))
def test_front_property(points: list[tuple[float, float]]) -> None:
    front = pareto_front(points)
    assert front, "a non-empty set always has a non-dominated point"
    for i in front:
        assert not any(dominates(points[j], points[i]) for j in range(len(points)))
    for i in set(range(len(points))) - set(front):
        assert any(dominates(points[j], points[i]) for j in front)
    knee = knee_point(points, front)
    assert knee in front


def test_knee_is_the_bend_of_an_l_shaped_front() -> None:
    # Accuracy barely drops from 100 ms to 10 ms, then collapses: the knee is at 10 ms.
    points = [(0.95, 100.0), (0.945, 30.0), (0.94, 10.0), (0.70, 5.0), (0.40, 1.0)]
    front = pareto_front(points)
    assert knee_point(points, front) == 2


def test_knee_of_two_points_prefers_accuracy() -> None:
    points = [(0.9, 10.0), (0.5, 1.0)]
    assert knee_point(points, pareto_front(points)) == 0


def _records() -> list[Record]:
    rows = [(0.95, 20.0, 4e6), (0.948, 6.0, 1e6), (0.93, 2.0, 3e5), (0.60, 1.0, 1e5)]
    records = [
        Record(name=f"c{i}", accuracy=a, latency_ms_p50=t, file_size_bytes=int(s))
        for i, (a, t, s) in enumerate(rows)
    ]
    records.append(Record(name="broken", status="failed", error="boom"))
    return records


def test_constraints_pick_the_fastest_that_meets_them() -> None:
    records = _records()
    choice = recommend(records, 0, Constraints(max_accuracy_drop=1.0))
    assert choice["index"] == 1 and choice["method"] == "constraints"
    choice = recommend(records, 0, Constraints(max_accuracy_drop=3.0, max_size_mb=0.2))
    assert choice["index"] is None
    assert "relax" in choice["reason"]
    choice = recommend(records, 0, Constraints(max_latency_ms=2.5))
    assert choice["index"] == 3


def test_without_constraints_the_knee_is_recommended_and_failed_records_are_ignored() -> None:
    records = _records()
    assert 4 not in front_indices(records)
    choice = recommend(records, 0)
    assert choice["method"] == "knee"
    assert choice["index"] in front_indices(records)
    # 6 ms loses 0.2 pt for 3.3x; going on to 2 ms costs 1.8 pt more for only 1.6 doublings.
    assert choice["index"] == 1


def test_knee_does_not_trade_many_points_for_a_little_speed() -> None:
    # The demo's front: near-equal latencies, one point 6.5 points more accurate.
    points = [(0.8698, 0.0602), (0.8752, 0.0643), (0.9402, 0.066)]
    assert knee_point(points, pareto_front(points)) == 2
