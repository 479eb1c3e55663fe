"""Convolution as one matrix multiply: im2col (a strided view, copied once) + GEMM.

Every output pixel's receptive field becomes one column of a (C*kh*kw) x (N*OH*OW) matrix,
so the whole layer is `W (C_out x C*kh*kw) @ cols`: a single large, contiguous GEMM that BLAS
runs near the machine's peak. The columns are built with `as_strided` (zero-copy view over the
padded input with the stride/dilation baked into the byte strides) and one contiguous copy;
there is no Python loop over pixels, only over groups when groups > 1 is not depthwise.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnopt.kernels._common import IntPair, Workspace, add_bias, check_conv_args, pad_hw, scratch


def im2col(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_size: tuple[int, int],
    batch_last: bool = False,
    workspace: Workspace | None = None,
) -> np.ndarray:
    """Columns of an already padded NCHW input as a contiguous array.

    Layout (N, C, kh, kw, OH, OW), or (C, kh, kw, N, OH, OW) with batch_last: the latter lets a
    whole batch share one GEMM (bigger, faster) at the cost of transposing the output.
    """
    n, c = xp.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (out_h, out_w) = kernel, stride, dilation, out_size
    s_n, s_c, s_h, s_w = xp.strides
    shape = (n, c, kh, kw, out_h, out_w)
    strides = (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw)
    view = as_strided(xp, shape, strides, writeable=False)
    if batch_last:
        view = view.transpose(1, 2, 3, 0, 4, 5)
    cols = scratch(workspace, "cols", view.shape, xp.dtype)
    np.copyto(cols, view)
    return cols


def conv2d_im2col(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    workspace: Workspace | None = None,
) -> np.ndarray:
    """Same result as torch.nn.functional.conv2d (float32 rounding aside); a Workspace lets
    repeated calls (the engine) reuse the column buffer instead of page-faulting a new one."""
    x, weight, stride, padding, dilation, out_h, out_w = check_conv_args(
        x, weight, bias, stride, padding, dilation, groups
    )
    n = x.shape[0]
    c_out, c_in_group, kh, kw = weight.shape
    xp = pad_hw(x, padding)
    if kh == kw == 1 and stride == (1, 1) and groups == 1:
        # 1x1 conv: the input already *is* the column matrix, no copy needed.
        cols = xp.reshape(n, c_in_group, out_h * out_w)
        out = np.matmul(weight.reshape(c_out, c_in_group), cols)
        return add_bias(out.reshape(n, c_out, out_h, out_w), bias)
    k = c_in_group * kh * kw
    if groups == 1 and n > 1:
        cols = im2col(xp, (kh, kw), stride, dilation, (out_h, out_w), True, workspace)
        out = weight.reshape(c_out, k) @ cols.reshape(k, n * out_h * out_w)
        out = out.reshape(c_out, n, out_h, out_w).transpose(1, 0, 2, 3)
        return add_bias(np.ascontiguousarray(out), bias)
    cols = im2col(xp, (kh, kw), stride, dilation, (out_h, out_w), False, workspace)
    cols = cols.reshape(n, groups, k, out_h * out_w)
    w = weight.reshape(groups, c_out // groups, k)
    if c_out == groups:  # depthwise: tiny per-channel dot products, einsum beats matmul here
        out = np.einsum("gk,ngkl->ngl", w[:, 0, :], cols, optimize=False)
    else:
        out = np.matmul(w, cols)  # (N, G, C_out/G, OH*OW): one batched GEMM
    return add_bias(out.reshape(n, c_out, out_h, out_w), bias)
