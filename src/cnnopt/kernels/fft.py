"""Convolution through the frequency domain: conv becomes a per-frequency product.

rfft2 of the padded input and of the (flipped, dilated) filters, a channel-mixing complex GEMM
per frequency, one irfft2 and a crop. The FFT size is the padded input size: circular
wrap-around only touches the border that is cropped away. Stride > 1 is computed at stride 1
and subsampled (wasteful: FFT pays off for large kernels, not for strided 3x3 layers).
Accuracy: float32 FFTs round at every butterfly stage, so errors grow with log(size) and the
channel count; tests allow 1e-3 relative to the output's scale (typically ~1e-6).
"""

from __future__ import annotations

import numpy as np

from cnnopt.kernels._common import IntPair, add_bias, check_conv_args, pad_hw


def fft_filter_transform(
    weight: np.ndarray, fft_size: tuple[int, int], dilation: tuple[int, int], groups: int
) -> np.ndarray:
    """Filter spectra laid out (G, F, C/G, C_out/G) for the per-frequency GEMMs.

    Depends only on the weights and the padded input size, so the engine computes it once per
    layer and shape: for a 512x512 layer it is 262k small FFTs, far more than the input's.
    """
    c_out, c_in_group, kh, kw = weight.shape
    dh, dw = dilation
    kernel = np.zeros((c_out, c_in_group, (kh - 1) * dh + 1, (kw - 1) * dw + 1), weight.dtype)
    kernel[:, :, ::dh, ::dw] = weight  # dilation = zeros between the taps
    kernel = kernel[:, :, ::-1, ::-1]  # correlation = convolution with the flipped filter
    kf = np.fft.rfft2(kernel, s=fft_size)  # (C_out, C/G, Hp, Wf)
    kf = kf.reshape(groups, c_out // groups, c_in_group, -1).transpose(0, 3, 2, 1)
    return np.ascontiguousarray(kf)


def conv2d_fft(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    transformed: np.ndarray | None = None,
) -> np.ndarray:
    """Same result as torch.nn.functional.conv2d up to FFT rounding; `transformed` is the
    cached `fft_filter_transform` for this input size."""
    x, weight, (sh, sw), padding, (dh, dw), out_h, out_w = check_conv_args(
        x, weight, bias, stride, padding, dilation, groups
    )
    xp = pad_hw(x, padding)
    n, _, hp, wp = xp.shape
    c_out, c_in_group, kh, kw = weight.shape
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if transformed is None:
        transformed = fft_filter_transform(weight, (hp, wp), (dh, dw), groups)
    xf = np.fft.rfft2(xp, s=(hp, wp))  # (N, C, Hp, Wf)
    freq = xf.shape[2] * xf.shape[3]
    # Mix channels per frequency as batched GEMMs: (G, F, N, C/G) @ (G, F, C/G, C_out/G).
    # Contiguous operands let numpy hand each product to BLAS (strided ones take a slow loop).
    xg = np.ascontiguousarray(xf.reshape(n, groups, c_in_group, freq).transpose(1, 3, 0, 2))
    yf = np.matmul(xg, transformed)  # (G, F, N, C_out/G)
    yf = yf.transpose(2, 0, 3, 1).reshape(n, c_out, xf.shape[2], xf.shape[3])
    full = np.fft.irfft2(yf, s=(hp, wp))
    rows = slice(span_h - 1, span_h - 1 + (out_h - 1) * sh + 1, sh)
    cols = slice(span_w - 1, span_w - 1 + (out_w - 1) * sw + 1, sw)
    out = np.ascontiguousarray(full[:, :, rows, cols], dtype=x.dtype)
    return add_bias(out, bias)
