"""Where the time goes inside an nn.Module: the top operators by self CPU time.

Self time (time in the op minus its children) sums to the total, so percentages add up and
`aten::conv2d` is not counted twice with the `aten::mkldnn_convolution` it calls.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@contextlib.contextmanager
def quiet_profiler() -> Iterator[None]:
    """Silence the "USDT ... profiler_start/stop" lines Kineto prints from C++ on every run.

    They go straight to file descriptor 2, which no logging setting reaches, so fd 2 points at
    /dev/null while the profiler runs. Python exceptions still propagate normally.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (embedded interpreters): live with the noise
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@dataclass
class OpTime:
    op: str
    self_cpu_ms: float  # per profiled forward pass
    calls: int  # per profiled forward pass
    percent: float  # of all self CPU time

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def profile_ops(
    model: nn.Module, example: torch.Tensor, top: int = 10, runs: int = 3
) -> list[OpTime]:
    """The `top` operators by self CPU time, averaged over `runs` forward passes after one warm-up.

    Profiling adds overhead per op, so these times are for ranking, not for latency numbers.
    """
    from torch.profiler import ProfilerActivity, profile

    if top <= 0:
        return []
    runs = max(1, runs)
    with torch.no_grad():
        model(example)
        with quiet_profiler(), profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                model(example)
    rows = [row for row in prof.key_averages() if row.self_cpu_time_total > 0]
    total_us = sum(row.self_cpu_time_total for row in rows) or 1.0
    rows.sort(key=lambda row: row.self_cpu_time_total, reverse=True)
    return [
        OpTime(
            op=row.key,
            self_cpu_ms=row.self_cpu_time_total / 1000.0 / runs,
            calls=max(1, round(row.count / runs)),
            percent=100.0 * row.self_cpu_time_total / total_us,
        )
        for row in rows[:top]
    ]
