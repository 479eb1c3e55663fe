"""Measured time of each conv algorithm per layer, next to the formula costs.

Timings are best-of-`repeats` after a warm-up (the least-disturbed run on a shared machine).
The naive loops are far too slow for real layers, so they are timed on a shrunken copy of the
layer (`ConvSpec.scaled`) and scaled up by the MAC ratio: interpreted Python costs about the
same per multiply-add at any size. Rows say `naive_extrapolated: true` when that was done.
Winograd and FFT are timed with their filter transforms precomputed, as the engine runs them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np

from cnnopt.kernels._common import Workspace
from cnnopt.kernels.complexity import ConvSpec
from cnnopt.kernels.conv import WINOGRAD_TILES
from cnnopt.kernels.fft import conv2d_fft, fft_filter_transform
from cnnopt.kernels.im2col import conv2d_im2col
from cnnopt.kernels.naive import conv2d_naive
from cnnopt.kernels.winograd import conv2d_winograd, winograd_filter_transform

NAIVE_MAX_MACS = 200_000  # about a quarter of a second of Python loops


def resolve_threads(value: str | int) -> int:
    """'all' -> every core of this machine; numbers pass through."""
    return (os.cpu_count() or 1) if value == "all" else int(value)


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """Pin NumPy's BLAS (via threadpoolctl) and torch to `count` threads for a measurement."""
    from threadpoolctl import threadpool_limits

    torch = _torch()
    before = torch.get_num_threads() if torch else None
    with threadpool_limits(limits=count):
        if torch:
            torch.set_num_threads(count)
        try:
            yield
        finally:
            if torch and before:
                torch.set_num_threads(before)


def time_ms(fn: Callable[[], Any], repeats: int = 5) -> float:
    """Best of `repeats` calls after one warm-up, in milliseconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def matmul_peak_gflops(size: int = 1024, repeats: int = 5) -> float:
    """float32 GEMM GFLOP/s of NumPy's BLAS: the ceiling every GEMM-based kernel aims at."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    return 2 * size**3 / (time_ms(lambda: a @ b, repeats) * 1e6)


def conv_runners(spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> dict[str, Callable[[], Any]]:
    """The fast algorithms that apply to `spec`, each ready to call with precomputed state."""
    args = (None, spec.stride, spec.padding, 1, spec.groups)
    runners: dict[str, Callable[[], Any]] = {}
    ws_i2c = Workspace()
    runners["im2col"] = lambda: conv2d_im2col(x, w, *args, workspace=ws_i2c)
    if spec.winograd_ok:
        for name, tile in WINOGRAD_TILES.items():
            u, ws_w = winograd_filter_transform(w, tile), Workspace()
            runners[name] = partial(conv2d_winograd, x, w, *args, transformed=u, workspace=ws_w)
    size = (spec.size + 2 * spec.padding,) * 2
    spectra = fft_filter_transform(w, size, (1, 1), spec.groups)  # cached, as in the engine
    runners["fft"] = lambda: conv2d_fft(x, w, *args, transformed=spectra)
    torch = _torch()
    if torch is not None:
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        conv = torch.nn.functional.conv2d

        def run_torch() -> Any:
            with torch.inference_mode():
                return conv(xt, wt, None, spec.stride, spec.padding, 1, spec.groups)

        runners["torch"] = run_torch
    return runners


def measure_layer(
    spec: ConvSpec, batch: int, repeats: int = 5, naive: bool = True
) -> dict[str, Any]:
    """One table row: formula costs, ms and GFLOP/s per algorithm, speed-ups over naive."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, spec.c_in, spec.size, spec.size), dtype=np.float32)
    w = rng.standard_normal((spec.c_out, spec.c_in // spec.groups, 3, 3), dtype=np.float32)
    w = w[:, :, : spec.kernel, : spec.kernel].copy()
    times = {name: time_ms(fn, repeats) for name, fn in conv_runners(spec, x, w).items()}
    row: dict[str, Any] = {
        "layer": spec.name,
        "batch": batch,
        "macs": spec.macs(batch),
        "params": spec.params,
        "param_bytes": spec.param_bytes,
        "activation_bytes": spec.activation_bytes(batch),
        "im2col_bytes": spec.im2col_bytes(batch),
        "winograd_macs": spec.winograd_macs(batch) if spec.winograd_ok else None,
        "winograd4_macs": spec.winograd_macs(batch, 4) if spec.winograd_ok else None,
        "ms": times,
        "gflops": {name: spec.flops(batch) / (ms * 1e6) for name, ms in times.items()},
    }
    if naive:
        small = spec.scaled(NAIVE_MAX_MACS)
        xs = x[:1, : small.c_in, : small.size, : small.size].copy()
        ws = w[: small.c_out, : small.c_in // small.groups].copy()
        args = (None, small.stride, small.padding, 1, small.groups)
        naive_ms = time_ms(lambda: conv2d_naive(xs, ws, *args), repeats=1)
        row["ms"]["naive"] = naive_ms * spec.macs(batch) / small.macs()
        row["naive_extrapolated"] = small != spec or batch != 1
        row["naive_measured_on"] = {"c_in": small.c_in, "c_out": small.c_out,
                                    "size": small.size, "batch": 1}  # fmt: skip
        row["speedup_vs_naive"] = {
            name: row["ms"]["naive"] / ms for name, ms in times.items() if name != "torch"
        }
    for name in WINOGRAD_TILES:
        if name in times:
            row[f"{name}_speedup_vs_im2col"] = times["im2col"] / times[name]
    if "torch" in times:
        row["im2col_vs_torch"] = times["im2col"] / times["torch"]
    return row


def size_sweep(
    channels: int = 64, sizes: tuple[int, ...] = (4, 8, 16, 32, 64), repeats: int = 3
) -> dict[str, Any]:
    """ms per algorithm for a channels->channels 3x3 conv at growing input sizes (the plot)."""
    result: dict[str, Any] = {"size": list(sizes), "channels": channels}
    for size in sizes:
        spec = ConvSpec(f"{channels}->{channels} @{size}", channels, channels, size)
        row = measure_layer(spec, batch=1, repeats=repeats, naive=size <= 8)
        for name in ("naive", "im2col", *WINOGRAD_TILES, "fft", "torch"):
            result.setdefault(name, []).append(row["ms"].get(name))
    return result


def plot_size_sweep(
    sweep: dict[str, list], path: str, title: str = "", peak_gflops: float | None = None
) -> None:
    """Left: log-log time against input size per algorithm. Right: achieved GFLOP/s (direct-
    conv FLOPs / time) against the measured matmul peak. matplotlib Agg: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnopt.fileio import atomic_path

    channels = sweep.get("channels", 64)
    fig, (ax_time, ax_rate) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, values in sweep.items():
        if name in ("size", "channels"):
            continue
        points = [(s, v) for s, v in zip(sweep["size"], values, strict=True) if v is not None]
        if not points:
            continue
        ax_time.plot(*zip(*points, strict=True), marker="o", label=name)
        rates = [(s, 2 * channels * channels * 9 * s * s / (v * 1e6)) for s, v in points]
        ax_rate.plot(*zip(*rates, strict=True), marker="o", label=name)
    if peak_gflops:
        ax_rate.axhline(peak_gflops, color="black", linestyle="--", label="numpy matmul peak")
    for ax in (ax_time, ax_rate):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("input height = width (pixels)")
        ax.grid(True, which="both", alpha=0.3)
    ax_time.set_ylabel("time per conv (ms, best of runs)")
    ax_rate.set_ylabel("achieved GFLOP/s (direct-conv FLOPs)")
    ax_rate.legend(fontsize="small")
    fig.suptitle(title or "3x3 conv time by algorithm")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _torch() -> Any:
    """torch when installed: only the comparison column needs it, never the kernels."""
    try:
        import torch
    except ImportError:
        return None
    return torch
