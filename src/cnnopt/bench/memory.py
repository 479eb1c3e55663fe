"""Peak memory of one inference call, measured two ways depending on what is being run.

* nn.Module: torch.profiler's memory events give every CPU tensor allocation and free in
  order; their running sum peaks at the working set of one forward pass: activations and
  scratch buffers beyond what was already alive (weights and the input are not counted).
  This is exact and repeatable, unlike process RSS, which allocator caching blurs.
* any other callable (ONNX Runtime, OpenVINO): those runtimes allocate outside PyTorch, so
  the process's peak resident set (VmHWM) is reset through /proc/self/clear_refs and the rise
  over the resident size before the call is reported. Linux only; None elsewhere. Memory the
  runtime already holds from earlier calls (its arena) is not counted again. The kernel
  reads RSS from per-CPU counters approximately, so on hosts with many CPUs this figure can
  be off by tens of MiB: a guide to the order of magnitude, not a byte count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

PROFILER_METHOD = "torch.profiler peak of live CPU tensor bytes during one forward"
RSS_METHOD = "peak RSS rise (VmHWM - VmRSS before) during one call"


@dataclass
class MemoryStats:
    peak_bytes: int | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tensor_peak_bytes(model: nn.Module, example: torch.Tensor) -> int:
    """Peak of live PyTorch CPU allocations (bytes) during `model(example)`, relative to start."""
    from torch._C._autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from cnnopt.bench.profile import quiet_profiler

    activities = [ProfilerActivity.CPU]
    with (
        torch.no_grad(),
        quiet_profiler(),
        profile(activities=activities, profile_memory=True) as prof,
    ):
        model(example)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        if event.device_type() != DeviceType.CPU:
            continue
        live += int(event.nbytes())
        peak = max(peak, live)
    return peak


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def rss_peak_bytes(fn: Callable[[torch.Tensor], Any], example: torch.Tensor) -> int | None:
    """Rise of the process's peak resident memory during one call; None if not measurable."""
    try:
        _CLEAR_REFS.write_text("5")  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        return None
    before = _status_bytes("VmRSS")
    with torch.inference_mode():
        fn(example)
    peak = _status_bytes("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before)


def peak_memory(model_or_fn: Any, example: torch.Tensor) -> MemoryStats:
    """Peak inference memory by the method that fits what is measured (see module doc)."""
    if isinstance(model_or_fn, nn.Module):
        try:
            return MemoryStats(tensor_peak_bytes(model_or_fn, example), PROFILER_METHOD)
        except (AttributeError, ImportError):  # the profiler's event API moved: fall back
            pass
    return MemoryStats(rss_peak_bytes(model_or_fn, example), RSS_METHOD)
