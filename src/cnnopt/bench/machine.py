"""What a latency number was measured on: without this, numbers from two machines look alike.

Versions come from package metadata (nothing heavy is imported) and a missing package shows
as None: describing the machine must never be the reason a benchmark fails.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

# flag in /proc/cpuinfo -> the name we report; these decide which kernels oneDNN/ORT pick
_FLAGS = {
    "avx2": "avx2",
    "avx512f": "avx512",
    "avx512_vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni",
    "avx512_bf16": "avx512_bf16",
    "amx_tile": "amx",
    "amx_bf16": "amx_bf16",
    "amx_int8": "amx_int8",
}
_OPTIONAL = ("numpy", "onnx", "onnxruntime", "openvino", "torch-pruning", "optuna")


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine(), flags


def cpu_flags() -> set[str]:
    """The CPU's feature flags as /proc/cpuinfo spells them (empty where it cannot be read)."""
    return _cpuinfo()[1]


def machine_state() -> dict[str, Any]:
    """What may slow a measurement down right now: the 1-minute load average (runnable
    processes; above the usable core count, timings compete) and the CPU clock in MHz where
    Linux shows it (cpufreq, else /proc/cpuinfo's current value; None on other systems)."""
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        load = None
    return {"load_1m": load, "cpu_mhz": _cpu_mhz()}


def _cpu_mhz() -> float | None:
    freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    try:
        return round(int(freq.read_text()) / 1000, 1)
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("cpu MHz"):
                    return round(float(line.split(":", 1)[1]), 1)
    except (OSError, ValueError):
        pass
    return None


def _version(distribution: str) -> str | None:
    # package metadata, not an import: importing OpenVINO or Optuna costs seconds
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, SIMD flags, thread settings and library versions, as plain JSON."""
    model, flags = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu": model,
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_flags": {name: flag in flags for flag, name in _FLAGS.items()},
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "versions": {"torch": torch.__version__, **{m: _version(m) for m in _OPTIONAL}},
    }
