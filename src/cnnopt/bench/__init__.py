"""Measure models: latency/throughput of any callable, MACs, params, size, peak memory, an op
profile and the machine it all ran on. `benchmark()` does all of it and returns Records.
"""

from __future__ import annotations

from cnnopt.bench.benchmark import BenchResult, benchmark
from cnnopt.bench.counts import count_macs, count_params, serialized_size, state_dict_bytes
from cnnopt.bench.latency import LatencyStats, measure_latency, torch_threads
from cnnopt.bench.machine import machine_info
from cnnopt.bench.memory import MemoryStats, peak_memory
from cnnopt.bench.profile import OpTime, profile_ops

__all__ = [
    "BenchResult",
    "LatencyStats",
    "MemoryStats",
    "OpTime",
    "benchmark",
    "count_macs",
    "count_params",
    "machine_info",
    "measure_latency",
    "peak_memory",
    "profile_ops",
    "serialized_size",
    "state_dict_bytes",
    "torch_threads",
]
