"""Timings that can be defended: unsteady blocks are re-timed, and a speed-up is measured
with the baseline timed turn about, so a busy moment does not become a headline."""

from __future__ import annotations

import time

import pytest
import torch

from cnnopt.bench.compare import interleaved_speedup
from cnnopt.bench.latency import measure_latency


class Disturbed:
    """A callable that takes `ms`, and `slow_ms` while the machine is 'busy': during calls
    number `busy_from` to `busy_to` (a stand-in for another process taking the core)."""

    def __init__(self, ms: float, slow_ms: float, busy_from: int, busy_to: int) -> None:
        self.ms, self.slow_ms = ms, slow_ms
        self.busy_from, self.busy_to = busy_from, busy_to
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        busy = self.busy_from <= self.calls < self.busy_to
        time.sleep((self.slow_ms if busy else self.ms) / 1000)
        return x


def test_a_busy_moment_is_timed_again() -> None:
    # busy for calls 30-60: the middle of the first attempt's blocks (5 warm-up calls first)
    fn = Disturbed(1.0, 6.0, 30, 60)
    stats = measure_latency(fn, torch.zeros(1), warmup_runs=5, min_runs=50, max_seconds=0.01)
    assert stats.retimed >= 1, stats.block_medians_ms
    assert stats.stable and stats.spread <= 0.15
    assert stats.p50_ms < 3.0  # the busy attempt was not kept
    assert "load_1m" in stats.state["before"] and "cpu_mhz" in stats.state["after"]


def test_a_timing_that_never_settles_is_marked_unsteady() -> None:
    calls = []

    def erratic(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        time.sleep((1 + 4 * ((len(calls) // 10) % 2)) / 1000)  # alternates 1 ms / 5 ms
        return x

    stats = measure_latency(erratic, torch.zeros(1), warmup_runs=0, min_runs=50, max_seconds=0.01)
    assert not stats.stable and stats.retimed == 2 and stats.spread > 0.15


def test_interleaved_speedup_cancels_a_busy_moment() -> None:
    """Timed one after the other, a baseline that runs during a busy spell looks 4x slower
    (a false 8x speed-up for a 2x model); timed turn about, the ratio stays near 2x."""
    base = Disturbed(2.0, 8.0, 0, 10**9)
    cand = Disturbed(1.0, 4.0, 0, 10**9)
    state = {"busy": False}

    def baseline(x: torch.Tensor) -> torch.Tensor:
        base.busy_to = 10**9 if state["busy"] else 0
        return base(x)

    def candidate(x: torch.Tensor) -> torch.Tensor:
        cand.busy_to = 10**9 if state["busy"] else 0
        state["busy"] = base.calls % 40 < 20  # busy spells that hit both blocks alike
        return cand(x)

    speed = interleaved_speedup(baseline, candidate, torch.zeros(1), pairs=8, block_seconds=0.03)
    assert 1.5 < speed.ratio < 2.7, speed
    assert speed.certain and speed.low > 1.0
    assert speed.pairs == 8 and speed.baseline_ms > speed.candidate_ms


def test_equal_models_get_no_certain_speedup() -> None:
    same = Disturbed(1.0, 1.0, 0, 0)
    speed = interleaved_speedup(same, same, torch.zeros(1), pairs=8, block_seconds=0.02)
    assert speed.low <= 1.0 + 0.05 and speed.high >= 1.0 - 0.05
    assert speed.ratio == pytest.approx(1.0, abs=0.15)
