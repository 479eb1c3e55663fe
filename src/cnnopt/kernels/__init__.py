"""NumPy reference kernels (naive, im2col, Winograd, FFT) and the NumPy inference engine.

Everything here runs on numpy alone; only `export_numpy` (loaded lazily) needs torch, so a
small device can `from cnnopt.kernels.engine import NumpyEngine` without torch installed.
"""

from __future__ import annotations

from typing import Any

from cnnopt.kernels.conv import ALGORITHMS, ConvLayer, applicable_algorithms, conv2d
from cnnopt.kernels.engine import NumpyEngine
from cnnopt.kernels.fft import conv2d_fft
from cnnopt.kernels.im2col import conv2d_im2col, im2col
from cnnopt.kernels.layers import batchnorm2d, flatten, fold_batchnorm, linear, relu, softmax
from cnnopt.kernels.naive import avgpool2d_naive, conv2d_naive, maxpool2d_naive
from cnnopt.kernels.pooling import adaptive_avgpool2d, avgpool2d, maxpool2d
from cnnopt.kernels.winograd import conv2d_winograd, winograd_filter_transform

__all__ = [
    "ALGORITHMS",
    "ConvLayer",
    "NumpyEngine",
    "adaptive_avgpool2d",
    "applicable_algorithms",
    "avgpool2d",
    "avgpool2d_naive",
    "batchnorm2d",
    "conv2d",
    "conv2d_fft",
    "conv2d_im2col",
    "conv2d_naive",
    "conv2d_winograd",
    "export_numpy",
    "flatten",
    "fold_batchnorm",
    "im2col",
    "linear",
    "maxpool2d",
    "maxpool2d_naive",
    "relu",
    "softmax",
    "winograd_filter_transform",
]


def __getattr__(name: str) -> Any:
    if name == "export_numpy":  # imports torch: only when asked for
        from cnnopt.kernels.export import export_numpy

        return export_numpy
    raise AttributeError(f"module 'cnnopt.kernels' has no attribute {name!r}")
