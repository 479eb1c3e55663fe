"""The whole kernel study behind `cnnopt kernels` and benchmarks/kernels.py.

For each thread count: the machine's measured GEMM peak, then every layer of a layer set at
every batch size (formula costs + measured time per algorithm), then a time-vs-input-size
sweep for the plot. Progress shows on a rich bar because the naive loops take seconds.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from cnnopt.kernels.complexity import layer_set
from cnnopt.kernels.measure import (
    matmul_peak_gflops,
    measure_layer,
    resolve_threads,
    size_sweep,
    threads,
)


def machine_info() -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def analyze(
    set_name: str = "resnet18",
    batches: Sequence[int] = (1, 32),
    thread_values: Sequence[str | int] = (1, "all"),
    repeats: int = 5,
    naive: bool = True,
    sweep_sizes: Sequence[int] = (4, 8, 16, 32, 64),
    console: Console | None = None,
) -> dict[str, Any]:
    """Measure everything; returns a JSON-ready dict (rows, peaks, sweep, machine)."""
    specs = layer_set(set_name)
    counts = sorted({resolve_threads(t) for t in thread_values})
    result: dict[str, Any] = {
        "layer_set": set_name,
        "batches": list(batches),
        "threads": counts,
        "repeats": repeats,
        "timing": "best of repeats after one warm-up, milliseconds",
        "machine": machine_info(),
        "matmul_peak_gflops": {},
        "rows": [],
        "sweep": {},
    }
    total = len(counts) * (len(specs) * len(batches) + (1 if sweep_sizes else 0))
    with Progress(console=console or Console(stderr=True), transient=True) as progress:
        task = progress.add_task("timing conv algorithms", total=total)
        for count in counts:
            with threads(count):
                result["matmul_peak_gflops"][str(count)] = matmul_peak_gflops()
                for spec in specs:
                    for batch in batches:
                        progress.update(task, description=f"{spec.name} b{batch} t{count}")
                        row = measure_layer(spec, batch, repeats, naive)
                        row["threads"] = count
                        peak = result["matmul_peak_gflops"][str(count)]
                        row["fraction_of_peak"] = {k: v / peak for k, v in row["gflops"].items()}
                        result["rows"].append(row)
                        progress.advance(task)
                if sweep_sizes:
                    progress.update(task, description=f"size sweep t{count}")
                    result["sweep"][str(count)] = size_sweep(sizes=tuple(sweep_sizes))
                    progress.advance(task)
    return result
