"""Wall-clock latency of any callable, so eager, ONNX Runtime and OpenVINO are timed alike.

Each run is timed on its own with `perf_counter_ns`: percentiles of single runs expose the
tail (p99) that averages hide. The garbage collector is paused while timing, because a
collection landing in one run is noise about Python, not about the model.

The runs are taken in consecutive blocks, and the blocks' medians are compared: a machine
that got busy for a moment (another process, a thermal step) shows as blocks that disagree.
Such a timing is taken again (up to `retries` times) and the steadiest attempt is kept; one
still unsteady is marked `stable=False`, with the load average before and after and the
CPU clock, so a report can flag it instead of printing a speed-up it cannot defend.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from cnnopt.errors import CnnoptError


@dataclass
class LatencyStats:
    """Milliseconds per call (one call = one batch); throughput is items per second at p50."""

    batch_size: int
    runs: int
    warmup_runs: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    throughput: float  # batch_size / p50: the median is robust to the occasional slow run
    total_seconds: float
    block_medians_ms: list[float] = field(default_factory=list)  # consecutive blocks of runs
    spread: float = 0.0  # (max - min) / median of the block medians
    stable: bool = True  # spread within the limit (after any re-timing)
    retimed: int = 0  # how many times it was taken again because the blocks disagreed
    state: dict[str, Any] = field(default_factory=dict)  # load/clock before and after

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(sorted_ms: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    pos = (len(sorted_ms) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(sorted_ms) - 1)
    return sorted_ms[low] + (sorted_ms[high] - sorted_ms[low]) * (pos - low)


def summarize(times_ms: list[float], batch_size: int, warmup_runs: int = 0) -> LatencyStats:
    """Turn raw per-run times into the statistics every record carries."""
    if not times_ms:
        raise CnnoptError("no timed runs to summarize", "use min_runs >= 1")
    ordered = sorted(times_ms)
    mean = sum(ordered) / len(ordered)
    var = sum((t - mean) ** 2 for t in ordered) / max(1, len(ordered) - 1)
    p50 = _percentile(ordered, 50)
    return LatencyStats(
        batch_size=batch_size,
        runs=len(ordered),
        warmup_runs=warmup_runs,
        p50_ms=p50,
        p90_ms=_percentile(ordered, 90),
        p99_ms=_percentile(ordered, 99),
        mean_ms=mean,
        std_ms=math.sqrt(var),
        min_ms=ordered[0],
        max_ms=ordered[-1],
        throughput=batch_size / (p50 / 1000.0) if p50 > 0 else float("inf"),
        total_seconds=sum(ordered) / 1000.0,
    )


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Pin torch's intra-op thread count for a measurement and put the old value back."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise CnnoptError(f"threads must be >= 1, got {threads}", "use e.g. --threads 1")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_budget(warmup_runs: int, min_runs: int, max_runs: int, max_seconds: float) -> None:
    if warmup_runs < 0:
        raise CnnoptError(f"warmup runs must be >= 0, got {warmup_runs}", "use e.g. 5")
    if min_runs < 1:
        raise CnnoptError(f"min_runs must be >= 1, got {min_runs}", "use e.g. 10")
    if max_runs < min_runs:
        raise CnnoptError(
            f"max_runs ({max_runs}) is smaller than min_runs ({min_runs})",
            "raise max_runs or lower min_runs",
        )
    if not max_seconds > 0:
        raise CnnoptError(f"max_seconds must be > 0, got {max_seconds}", "use e.g. 2.0")


# Block medians of a steady measurement agree within a few percent on a quiet machine; 15%
# means something else ran meanwhile.
MAX_SPREAD = 0.15
BLOCKS = 5


def measure_latency(
    fn: Callable[[torch.Tensor], Any],
    example: torch.Tensor,
    warmup_runs: int = 5,
    min_runs: int = 10,
    max_runs: int = 10_000,
    max_seconds: float = 2.0,
    *,
    blocks: int = BLOCKS,
    max_spread: float = MAX_SPREAD,
    retries: int = 2,
) -> LatencyStats:
    """Time `fn(example)`: warm-up, then runs until `max_seconds` pass (but >= min_runs), in
    `blocks` consecutive blocks; re-timed up to `retries` times while the blocks disagree by
    more than `max_spread` (see the module doc), keeping the steadiest attempt.

    Warm-up absorbs one-time costs (oneDNN primitive creation, ORT arena growth, lazy
    compilation) that a serving process pays once. The time budget covers the timed runs of
    one attempt; a slow model still gets `min_runs` runs, so the total can exceed it.
    """
    from cnnopt.bench.machine import machine_state

    _check_budget(warmup_runs, min_runs, max_runs, max_seconds)
    batch_size = int(example.shape[0]) if example.ndim > 0 else 1
    blocks = max(1, min(blocks, min_runs))
    best: LatencyStats | None = None
    with torch.inference_mode():
        for _ in range(warmup_runs):
            fn(example)
        attempts = 0
        while attempts <= retries:
            attempts += 1
            before = machine_state()
            times, medians = _timed_blocks(fn, example, blocks, min_runs, max_runs, max_seconds)
            stats = summarize(times, batch_size, warmup_runs)
            stats.block_medians_ms = medians
            stats.spread = _spread(medians)
            stats.state = {"before": before, "after": machine_state()}
            if best is None or stats.spread < best.spread:
                best = stats
            if stats.spread <= max_spread:
                break
    assert best is not None
    best.retimed = attempts - 1
    best.stable = best.spread <= max_spread
    return best


def _timed_blocks(
    fn: Callable[[torch.Tensor], Any],
    example: torch.Tensor,
    blocks: int,
    min_runs: int,
    max_runs: int,
    max_seconds: float,
) -> tuple[list[float], list[float]]:
    """All run times (ms) and each block's median; block k ends when its share of the time
    budget and of min_runs is done (or max_runs is reached)."""
    from cnnopt.stats import median

    times_ms: list[float] = []
    medians: list[float] = []
    with gc_paused():
        started = time.perf_counter_ns()
        for block in range(1, blocks + 1):
            due_ns = started + int(max_seconds * 1e9 * block / blocks)
            due_runs = -(-min_runs * block // blocks)
            cap = -(-max_runs * block // blocks)  # each block its share of max_runs
            first = len(times_ms)
            while len(times_ms) < cap:
                t0 = time.perf_counter_ns()
                fn(example)
                t1 = time.perf_counter_ns()
                times_ms.append((t1 - t0) / 1e6)
                if len(times_ms) >= due_runs and t1 >= due_ns:
                    break
            if len(times_ms) > first:
                medians.append(median(times_ms[first:]))
    return times_ms, medians


def _spread(medians: list[float]) -> float:
    from cnnopt.stats import relative_spread

    return relative_spread(medians)
