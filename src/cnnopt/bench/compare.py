"""A speed-up you can defend: the baseline and the candidate timed turn about, in one process.

Timing the baseline at the start of a search and a candidate minutes later compares two
machine states as much as two models: one busy moment during the baseline's timing once
printed "1590x faster" for a 6x model. Here short blocks of baseline runs and candidate runs
alternate (ABBA order, so neither always goes first), each pair of neighbouring blocks gives
one ratio, and the speed-up is the median of those ratios with its 95% interval. A slow
moment hits both blocks of a pair and cancels out of that pair's ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from cnnopt.bench.latency import gc_paused
from cnnopt.stats import median, ratio_interval

Fn = Callable[[torch.Tensor], Any]


@dataclass
class Speedup:
    """baseline latency / candidate latency (> 1: the candidate is faster)."""

    ratio: float  # median of the per-pair ratios
    low: float  # 95% interval of that median
    high: float
    pairs: int
    baseline_ms: float  # median over all baseline blocks
    candidate_ms: float
    state: dict[str, Any]  # load/clock before and after

    @property
    def certain(self) -> bool:
        """The interval does not cross 1x: faster (or slower) for sure, not by noise."""
        return self.low > 1.0 or self.high < 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "certain": self.certain}


def _block(fn: Fn, example: torch.Tensor, seconds: float, min_runs: int) -> float:
    """Median ms of runs until `seconds` have passed and at least `min_runs` ran."""
    times: list[float] = []
    started = time.perf_counter_ns()
    while True:
        t0 = time.perf_counter_ns()
        fn(example)
        t1 = time.perf_counter_ns()
        times.append((t1 - t0) / 1e6)
        if len(times) >= min_runs and t1 - started >= seconds * 1e9:
            return median(times)


def interleaved_speedup(
    baseline: Fn,
    candidate: Fn,
    example: torch.Tensor,
    *,
    pairs: int = 8,
    block_seconds: float = 0.15,
    min_runs: int = 3,
    warmup_runs: int = 3,
) -> Speedup:
    """Time `baseline` and `candidate` in alternating blocks on the same input (module doc)."""
    from cnnopt.bench.machine import machine_state

    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    ratios, base_blocks, cand_blocks = [], [], []
    with torch.inference_mode():
        for _ in range(warmup_runs):
            baseline(example)
            candidate(example)
        before = machine_state()
        with gc_paused():
            for i in range(pairs):
                order = (baseline, candidate) if i % 2 == 0 else (candidate, baseline)
                first, second = (_block(fn, example, block_seconds, min_runs) for fn in order)
                base_ms, cand_ms = (first, second) if i % 2 == 0 else (second, first)
                base_blocks.append(base_ms)
                cand_blocks.append(cand_ms)
                ratios.append(base_ms / max(cand_ms, 1e-9))
    ratio, low, high = ratio_interval(ratios)
    return Speedup(
        ratio=ratio,
        low=low,
        high=high,
        pairs=pairs,
        baseline_ms=median(base_blocks),
        candidate_ms=median(cand_blocks),
        state={"before": before, "after": machine_state()},
    )
