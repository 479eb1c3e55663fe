"""Benchmark: NumPy conv algorithms on ResNet-18's 3x3 layers, and the NumPy engine end to end.

Writes benchmarks/results/kernels.json and kernels_time_vs_size.png. Run:
    .venv/bin/python benchmarks/kernels.py [--repeats 5] [--quick]
Timings are best-of-repeats after a warm-up; naive-loop times are measured on a shrunken layer
and scaled by MACs (each row says so). State the machine and its load next to any number.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_info

from cnnopt.bench import machine_info
from cnnopt.fileio import write_json
from cnnopt.kernels import NumpyEngine, export_numpy
from cnnopt.kernels.analysis import analyze
from cnnopt.kernels.measure import plot_size_sweep, threads, time_ms

RESULTS = Path(__file__).parent / "results"


def engine_latency(name: str, shape: tuple[int, int, int], batch: int, repeats: int) -> dict:
    """Full-model latency: NumPy engine (auto algorithms) vs PyTorch eager, same weights."""
    from cnnopt.models import create_model

    model = create_model(name, num_classes=10, in_channels=shape[0]).eval()
    x = torch.randn(batch, *shape)
    with tempfile.TemporaryDirectory() as tmp:
        export_numpy(model, tmp, shape)
        engine = NumpyEngine.load(tmp)
        xn = x.numpy()
        engine(xn)  # chooses each layer's algorithm
        with torch.inference_mode():
            expected = model(x).numpy()
            torch_ms = time_ms(lambda: model(x), repeats)
        numpy_ms = time_ms(lambda: engine(xn), repeats)
        choices = [c["algorithm"] for c in engine.algorithm_choices()]
    return {
        "model": name,
        "input_shape": list(shape),
        "batch": batch,
        "numpy_ms": numpy_ms,
        "torch_eager_ms": torch_ms,
        "numpy_over_torch": numpy_ms / torch_ms,
        "max_abs_logit_diff": float(np.abs(engine(xn) - expected).max()),
        "algorithms_chosen": {a: choices.count(a) for a in sorted(set(choices))},
    }


def summarize(result: dict) -> dict:
    """The claims the study must show, computed from the rows (3x3 stride-1 layers).

    Ratios are speed-ups (time of the slower / time of the faster), so > 1 means the first-named
    algorithm wins; `*_faster_in` counts the layers where it does.
    """
    summary = {}
    for row in result["rows"]:
        if "winograd_speedup_vs_im2col" not in row:
            continue
        key = f"batch{row['batch']}_threads{row['threads']}"
        f2, f4 = row["winograd_speedup_vs_im2col"], row["winograd4_speedup_vs_im2col"]
        values = {
            "im2col_vs_torch": row["im2col_vs_torch"],
            "winograd_vs_im2col": f2,
            "winograd4_vs_im2col": f4,
            "best_winograd_vs_im2col": max(f2, f4),
            "im2col_vs_naive": row["speedup_vs_naive"]["im2col"],
            "winograd_vs_naive": row["speedup_vs_naive"]["winograd"],
            "winograd4_vs_naive": row["speedup_vs_naive"]["winograd4"],
        }
        entry = summary.setdefault(key, {name: [] for name in values})
        for name, value in values.items():
            entry[name].append(value)
    return {
        key: {
            **{
                k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                for k, v in entry.items()
            },
            "layers": len(entry["winograd_vs_im2col"]),
            "winograd_faster_in": sum(v > 1 for v in entry["winograd_vs_im2col"]),
            "winograd4_faster_in": sum(v > 1 for v in entry["winograd4_vs_im2col"]),
        }
        for key, entry in summary.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="batch 1 only, one thread")
    args = parser.parse_args()
    start = time.time()
    load_before = os.getloadavg()
    result = analyze(
        "resnet18",
        batches=(1,) if args.quick else (1, 32),
        thread_values=(1,) if args.quick else (1, "all"),
        repeats=args.repeats,
    )
    result["summary_3x3_stride1"] = summarize(result)
    result["engine"] = []
    for count in result["threads"]:
        with threads(count):
            for name in ("lenet5", "resnet20"):
                for batch in (1, 32):
                    row = engine_latency(name, (1, 28, 28), batch, args.repeats)
                    row["threads"] = count
                    result["engine"].append(row)
    result["torch"] = torch.__version__
    result["wall_seconds"] = time.time() - start
    result["machine"] = machine_info()
    result["load_average_before"], result["load_average_after"] = load_before, os.getloadavg()
    # OpenBLAS picks its kernels from OPENBLAS_CORETYPE; some machines pin it to an older core
    # (Haswell), which halves NumPy's GEMM speed. Record what this run used.
    result["blas"] = {
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "threadpools": [
            {k: info.get(k) for k in ("internal_api", "architecture", "version")}
            for info in threadpool_info()
        ],
    }
    result["note"] = (
        "Compare the load averages: numbers from a busy machine are noisy. Naive times are "
        "scaled by MACs from a smaller layer."
    )
    write_json(RESULTS / "kernels.json", result)
    one = str(min(result["threads"]))
    title = f"64->64 3x3 conv, batch 1, {one} thread(s)"
    plot_path = str(RESULTS / "kernels_time_vs_size.png")
    plot_size_sweep(result["sweep"][one], plot_path, title, result["matmul_peak_gflops"][one])
    for row in result["rows"]:
        ms = ", ".join(f"{k} {v:.3f}" for k, v in row["ms"].items() if k != "naive")
        print(f"{row['layer']:>24} b{row['batch']:<2} t{row['threads']}: {ms}")
    for key, entry in result["summary_3x3_stride1"].items():
        print(key, {k: round(v["median"], 2) if isinstance(v, dict) else v
                    for k, v in entry.items()})  # fmt: skip
    for row in result["engine"]:
        print(row["model"], f"b{row['batch']} t{row['threads']}",
              f"numpy {row['numpy_ms']:.2f} ms, torch {row['torch_eager_ms']:.2f} ms")  # fmt: skip
    print(f"wrote {RESULTS / 'kernels.json'} in {result['wall_seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
