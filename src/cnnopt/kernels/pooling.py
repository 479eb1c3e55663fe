"""Max and average pooling over strided views: no Python loop over pixels.

`sliding_window_view` turns the padded input into an (N, C, OH, OW, kh, kw) view without
copying; taking every stride-th window and reducing the last two axes is the whole kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnopt.errors import CnnoptError
from cnnopt.kernels._common import IntPair, as_float_array, pair


def check_pool_args(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None,
    padding: IntPair,
    ceil_mode: bool = False,
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[int, int], int, int]:
    """Validate like torch.nn.functional.max_pool2d; stride defaults to the kernel size."""
    x = as_float_array(x, "input", 4)
    kernel = pair(kernel_size, "kernel_size")
    strides = kernel if stride is None else pair(stride, "stride")
    pad = pair(padding, "padding", 0)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise CnnoptError(
            f"pool padding {pad} is more than half the kernel {kernel}",
            "use padding <= kernel_size // 2 (as PyTorch requires)",
        )
    out_h, out_w = (
        _pool_output_size(x.shape[2 + i], kernel[i], strides[i], pad[i], ceil_mode)
        for i in range(2)
    )
    if out_h < 1 or out_w < 1:
        raise CnnoptError(
            f"input {x.shape[2]}x{x.shape[3]} is smaller than the pooling window {kernel}",
            "use a smaller kernel_size or a larger input",
        )
    return x, kernel, strides, pad, out_h, out_w


def _pool_output_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """PyTorch's rule: with ceil_mode a last partial window counts if it starts in the input."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pad_for_pool(
    x: np.ndarray,
    pad: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    out_size: tuple[int, int],
    fill: float,
) -> np.ndarray:
    """Pad by `pad`, plus the bottom/right overhang a ceil_mode window reaches past."""
    extra = [
        max(0, (out_size[i] - 1) * stride[i] + kernel[i] - (x.shape[2 + i] + 2 * pad[i]))
        for i in range(2)
    ]
    if pad == (0, 0) and extra == [0, 0]:
        return x
    widths = ((0, 0), (0, 0), (pad[0], pad[0] + extra[0]), (pad[1], pad[1] + extra[1]))
    return np.pad(x, widths, constant_values=fill)


def _windows(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None,
    padding: IntPair,
    ceil_mode: bool,
    fill: float,
) -> np.ndarray:
    x, kernel, (sh, sw), pad, out_h, out_w = check_pool_args(
        x, kernel_size, stride, padding, ceil_mode
    )
    xp = pad_for_pool(x, pad, kernel, (sh, sw), (out_h, out_w), fill)
    view = sliding_window_view(xp, kernel, axis=(2, 3))
    return view[:, :, : out_h * sh : sh, : out_w * sw : sw]  # (N, C, OH, OW, kh, kw)


def maxpool2d(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Max pooling; padded cells are -inf so they never win (PyTorch's semantics)."""
    return _windows(x, kernel_size, stride, padding, ceil_mode, -np.inf).max(axis=(4, 5))


def avgpool2d(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Average pooling; padded cells count as zeros (torch's count_include_pad=True), but a
    ceil_mode window's overhang past the padding does not count (torch's divisor rule)."""
    windows = _windows(x, kernel_size, stride, padding, ceil_mode, 0.0)
    total = windows.sum(axis=(4, 5), dtype=windows.dtype)
    if not ceil_mode:
        return total / np.asarray(windows.shape[4] * windows.shape[5], dtype=total.dtype)
    ph, pw = pair(padding, "padding", 0)
    height, width = np.shape(x)[2:]
    inside = np.ones((1, 1, height + 2 * ph, width + 2 * pw), dtype=total.dtype)
    count = _windows(inside, kernel_size, stride, 0, True, 0.0).sum(axis=(4, 5))
    return total / count[:, :, : total.shape[2], : total.shape[3]]


def adaptive_avgpool2d(x: np.ndarray, output_size: IntPair) -> np.ndarray:
    """torch.nn.AdaptiveAvgPool2d: output cell i averages rows floor(iH/OH)..ceil((i+1)H/OH)."""
    x = as_float_array(x, "input", 4)
    out_h, out_w = pair(output_size, "output_size")
    n, c, h, w = x.shape
    if (out_h, out_w) == (1, 1):  # global average pooling: the common case, one reduction
        return x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype)
    if h % out_h == 0 and w % out_w == 0:  # equal windows: a reshape, no loop
        return x.reshape(n, c, out_h, h // out_h, out_w, w // out_w).mean(
            axis=(3, 5), dtype=x.dtype
        )
    out = np.empty((n, c, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):  # uneven windows: loop over the (few) output cells only
        rows = slice(i * h // out_h, math.ceil((i + 1) * h / out_h))
        for j in range(out_w):
            cols = slice(j * w // out_w, math.ceil((j + 1) * w / out_w))
            out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out
