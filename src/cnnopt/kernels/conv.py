"""One conv2d entry point over the algorithms, and per-layer algorithm choice.

Algorithms: the naive loops, im2col, Winograd F(2x2,3x3) ("winograd"), Winograd F(4x4,3x3)
("winograd4") and FFT. `conv2d(..., algorithm=...)` dispatches by name; `ConvLayer` is what the
engine runs: it keeps each algorithm's precomputed state (the Winograd filter transforms,
scratch buffers) and, on the first input of a given shape, times every applicable algorithm
and keeps the fastest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np

from cnnopt.errors import CnnoptError
from cnnopt.kernels._common import IntPair, Workspace, pair
from cnnopt.kernels.fft import conv2d_fft, fft_filter_transform
from cnnopt.kernels.im2col import conv2d_im2col
from cnnopt.kernels.naive import conv2d_naive
from cnnopt.kernels.winograd import conv2d_winograd, winograd_applicable, winograd_filter_transform

ALGORITHMS: dict[str, Callable[..., np.ndarray]] = {
    "naive": conv2d_naive,
    "im2col": conv2d_im2col,
    "winograd": partial(conv2d_winograd, tile=2),
    "winograd4": partial(conv2d_winograd, tile=4),
    "fft": conv2d_fft,
}
WINOGRAD_TILES = {"winograd": 2, "winograd4": 4}  # algorithm -> output tile m of F(m x m, 3x3)
# What "auto" may pick: never the naive loops.
FAST_ALGORITHMS = ("im2col", "winograd", "winograd4", "fft")


def check_algorithm(name: str, allow_auto: bool = True) -> str:
    known = [*ALGORITHMS, "auto"] if allow_auto else list(ALGORITHMS)
    if name not in known:
        raise CnnoptError(f"unknown conv algorithm {name!r}", f"choose one of: {', '.join(known)}")
    return name


def applicable_algorithms(
    weight_shape: tuple[int, ...], stride: IntPair = 1, dilation: IntPair = 1, groups: int = 1
) -> list[str]:
    """The fast algorithms that can compute this layer (Winograd only 3x3 stride 1)."""
    names = ["im2col"]
    if winograd_applicable(
        weight_shape, pair(stride, "stride"), pair(dilation, "dilation"), groups
    ):
        names += list(WINOGRAD_TILES)
    names.append("fft")
    return names


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    algorithm: str = "im2col",
) -> np.ndarray:
    """torch.nn.functional.conv2d in NumPy with a chosen algorithm."""
    fn = ALGORITHMS[check_algorithm(algorithm, allow_auto=False)]
    return fn(x, weight, bias, stride, padding, dilation, groups)


class ConvLayer:
    """A conv with fixed weights that picks and remembers its fastest algorithm per shape."""

    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray | None = None,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        algorithm: str = "auto",
    ) -> None:
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.bias = None if bias is None else np.asarray(bias, dtype=np.float32)
        self.stride, self.padding = pair(stride, "stride"), pair(padding, "padding", 0)
        self.dilation, self.groups = pair(dilation, "dilation"), groups
        self.candidates = applicable_algorithms(self.weight.shape, stride, dilation, groups)
        check_algorithm(algorithm)
        if algorithm not in ("auto", "naive") and algorithm not in self.candidates:
            # A forced algorithm that cannot run this layer falls back to im2col (the general one).
            algorithm = "im2col"
        self.forced = None if algorithm == "auto" else algorithm
        self.choice: dict[tuple[int, ...], str] = {}  # input shape -> algorithm
        self.timings: dict[tuple[int, ...], dict[str, float]] = {}  # input shape -> ms per alg
        self.last_algorithm: str | None = None  # what the latest call ran (for profiles)
        self._winograd_u: dict[int, np.ndarray] = {}  # tile -> transformed filters
        self._fft_filters: dict[tuple[int, int], np.ndarray] = {}  # padded size -> spectra
        self._workspaces: dict[str, Workspace] = {}

    def run(self, x: np.ndarray, algorithm: str) -> np.ndarray:
        args = (self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        workspace = self._workspaces.setdefault(algorithm, Workspace())
        tile = WINOGRAD_TILES.get(algorithm)
        if tile:
            if tile not in self._winograd_u:  # the filter transform is paid once per layer
                self._winograd_u[tile] = winograd_filter_transform(self.weight, tile)
            u = self._winograd_u[tile]
            return conv2d_winograd(x, *args, transformed=u, workspace=workspace)
        if algorithm == "fft":
            size = (x.shape[2] + 2 * self.padding[0], x.shape[3] + 2 * self.padding[1])
            if size not in self._fft_filters:
                self._fft_filters[size] = fft_filter_transform(
                    self.weight, size, self.dilation, self.groups
                )
            return conv2d_fft(x, *args, transformed=self._fft_filters[size])
        if algorithm == "im2col":
            return conv2d_im2col(x, *args, workspace=workspace)
        return ALGORITHMS[algorithm](x, *args)

    def choose(self, x: np.ndarray, repeats: int = 3) -> str:
        """Time each candidate on this input (best of `repeats` after a warm-up) and keep one."""
        key = tuple(x.shape)
        if self.forced:
            self.choice[key] = self.forced
            return self.forced
        times: dict[str, float] = {}
        for name in self.candidates:
            self.run(x, name)  # warm-up: allocates scratch buffers, transforms filters
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                self.run(x, name)
                best = min(best, time.perf_counter() - start)
            times[name] = best * 1e3
        self.timings[key] = times
        self.choice[key] = min(times, key=times.__getitem__)
        return self.choice[key]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        algorithm = self.choice.get(tuple(x.shape)) or self.choose(x)
        self.last_algorithm = algorithm
        return self.run(x, algorithm)
