"""measure_latency(): works on any callable, bounded by time, honest percentiles."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.bench.latency import measure_latency, summarize, torch_threads
from cnnopt.errors import CnnoptError


def test_percentiles_are_ordered_and_min_runs_respected() -> None:
    stats = measure_latency(
        lambda x: x * 2, torch.ones(4, 3), warmup_runs=2, min_runs=15, max_seconds=0.05
    )
    assert stats.runs >= 15
    assert stats.min_ms <= stats.p50_ms <= stats.p90_ms <= stats.p99_ms <= stats.max_ms
    assert stats.batch_size == 4
    assert stats.throughput == pytest.approx(4 / (stats.p50_ms / 1000))


def test_time_budget_is_respected_roughly() -> None:
    calls = []

    def slow(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        time.sleep(0.002)
        return x

    started = time.perf_counter()
    stats = measure_latency(slow, torch.zeros(1), warmup_runs=1, min_runs=3, max_seconds=0.1)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # 10x the budget: generous on a loaded machine
    assert stats.runs >= 3 and len(calls) == stats.runs + 1
    assert stats.p50_ms >= 2.0  # each run slept 2 ms


def test_slow_callable_still_gets_min_runs() -> None:
    stats = measure_latency(lambda x: time.sleep(0.01), torch.zeros(2), 0, 4, max_seconds=0.001)
    assert stats.runs == 4


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.001, 1000, allow_nan=False), min_size=1, max_size=60))
def test_summary_matches_numpy(times: list[float]) -> None:
    stats = summarize(times, batch_size=2)
    for q, value in ((50, stats.p50_ms), (90, stats.p90_ms), (99, stats.p99_ms)):
        assert value == pytest.approx(float(np.percentile(times, q)), rel=1e-9)
    assert stats.p50_ms <= stats.p90_ms <= stats.p99_ms
    assert stats.mean_ms == pytest.approx(float(np.mean(times)))


def test_threads_are_pinned_and_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
    with pytest.raises(CnnoptError), torch_threads(0):
        pass


@pytest.mark.parametrize(
    ("warmup", "min_runs", "max_runs", "seconds"),
    [(-1, 1, 2, 1.0), (0, 0, 2, 1.0), (0, 5, 2, 1.0), (0, 1, 2, 0.0)],
)
def test_bad_budgets_are_cnnopt_errors(
    warmup: int, min_runs: int, max_runs: int, seconds: float
) -> None:
    with pytest.raises(CnnoptError):
        measure_latency(lambda x: x, torch.zeros(1), warmup, min_runs, max_runs, seconds)
