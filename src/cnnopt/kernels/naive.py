"""The textbook kernels: every loop written out, one scalar multiply-add at a time.

These are the reference the fast algorithms are checked against and the baseline their
speed-ups are measured from. They are deliberately *not* vectorized (not even the kernel
window): seven nested Python loops for a convolution is exactly what the seed articles show,
so the measured gap to im2col/Winograd is the honest price of interpreting every MAC.
Use them on tiny shapes only (about 1 microsecond per multiply-add).
"""

from __future__ import annotations

import numpy as np

from cnnopt.kernels._common import IntPair, add_bias, check_conv_args, pad_hw
from cnnopt.kernels.pooling import check_pool_args, pad_for_pool


def conv2d_naive(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlation like torch.nn.functional.conv2d, as seven literal nested loops."""
    x, weight, (sh, sw), padding, (dh, dw), out_h, out_w = check_conv_args(
        x, weight, bias, stride, padding, dilation, groups
    )
    xp = pad_hw(x, padding)
    n_batch = x.shape[0]
    c_out, c_in_group, kh, kw = weight.shape
    c_out_group = c_out // groups
    out = np.zeros((n_batch, c_out, out_h, out_w), dtype=x.dtype)
    for n in range(n_batch):
        for co in range(c_out):
            first_ci = (co // c_out_group) * c_in_group  # the group's first input channel
            for oh in range(out_h):
                for ow in range(out_w):
                    acc = 0.0
                    for ci in range(c_in_group):
                        for i in range(kh):
                            for j in range(kw):
                                acc += (
                                    xp[n, first_ci + ci, oh * sh + i * dh, ow * sw + j * dw]
                                    * weight[co, ci, i, j]
                                )
                    out[n, co, oh, ow] = acc
    return add_bias(out, bias)


def maxpool2d_naive(
    x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> np.ndarray:
    """Max pooling as loops over every output pixel and every window element."""
    return _pool_naive(x, kernel_size, stride, padding, "max")


def avgpool2d_naive(
    x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> np.ndarray:
    """Average pooling (padding counts as zeros, like torch's count_include_pad=True)."""
    return _pool_naive(x, kernel_size, stride, padding, "avg")


def _pool_naive(
    x: np.ndarray, kernel_size: IntPair, stride: IntPair | None, padding: IntPair, mode: str
) -> np.ndarray:
    x, (kh, kw), (sh, sw), pad, out_h, out_w = check_pool_args(x, kernel_size, stride, padding)
    fill = -np.inf if mode == "max" else 0.0
    xp = pad_for_pool(x, pad, (kh, kw), (sh, sw), (out_h, out_w), fill)
    n_batch, channels = x.shape[:2]
    out = np.empty((n_batch, channels, out_h, out_w), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(out_h):
                for ow in range(out_w):
                    acc = -np.inf if mode == "max" else 0.0
                    for i in range(kh):
                        for j in range(kw):
                            value = xp[n, c, oh * sh + i, ow * sw + j]
                            acc = max(acc, value) if mode == "max" else acc + value
                    out[n, c, oh, ow] = acc if mode == "max" else acc / (kh * kw)
    return out


__all__ = ["avgpool2d_naive", "conv2d_naive", "maxpool2d_naive"]
