"""Argument checks and shape arithmetic shared by every conv/pool algorithm.

All algorithms accept the same arguments as `torch.nn.functional.conv2d` so that any one of
them can stand in for another (and for PyTorch); validating in one place keeps the error
messages identical whichever algorithm the user picked.
"""

from __future__ import annotations

import numpy as np

from cnnopt.errors import CnnoptError

IntPair = int | tuple[int, int]


def pair(value: IntPair, name: str, minimum: int = 1) -> tuple[int, int]:
    """`3` -> (3, 3); checks the values are whole numbers >= minimum."""
    values = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != 2 or any(not isinstance(v, int | np.integer) for v in values):
        raise CnnoptError(
            f"{name} must be an int or a pair of ints, got {value!r}", f"e.g. {name}=1"
        )
    if any(v < minimum for v in values):
        raise CnnoptError(
            f"{name} must be >= {minimum}, got {value!r}", f"use {name}={max(minimum, 1)}"
        )
    return int(values[0]), int(values[1])


def as_float_array(x: np.ndarray, name: str, ndim: int) -> np.ndarray:
    """float32/float64 arrays pass through; anything else is converted to float32."""
    x = np.asarray(x)
    if x.ndim != ndim:
        raise CnnoptError(
            f"{name} must have {ndim} dimensions, got shape {x.shape}",
            "pass an N x C x H x W batch (add a batch axis with x[None] for one image)"
            if name == "input"
            else "check the weight shape",
        )
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return x


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """The formula shared with PyTorch: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def check_conv_args(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride: IntPair,
    padding: IntPair,
    dilation: IntPair,
    groups: int,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int], tuple[int, int], int, int]:
    """Validate conv2d arguments; returns (x, w, stride, padding, dilation, out_h, out_w)."""
    x = as_float_array(x, "input", 4)
    weight = as_float_array(weight, "weight", 4).astype(x.dtype, copy=False)
    stride, padding, dilation = (
        pair(stride, "stride"),
        pair(padding, "padding", 0),
        pair(dilation, "dilation"),
    )
    _, c, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    if groups < 1 or c % groups or c_out % groups:
        raise CnnoptError(
            f"groups={groups} must divide input channels ({c}) and output channels ({c_out})",
            "use groups=1, or a divisor of both channel counts",
        )
    if c_per_group * groups != c:
        raise CnnoptError(
            f"weight expects {c_per_group * groups} input channels, input has {c}",
            "the weight does not belong to this input; check the channel dimension",
        )
    if bias is not None and np.shape(bias) != (c_out,):
        raise CnnoptError(
            f"bias must have shape ({c_out},), got {np.shape(bias)}", "pass one bias per filter"
        )
    out_h = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    out_w = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    if out_h < 1 or out_w < 1:
        raise CnnoptError(
            f"input {h}x{w} is too small for a {kh}x{kw} kernel (dilation {dilation}, "
            f"padding {padding})",
            "use a larger input or more padding",
        )
    return x, weight, stride, padding, dilation, out_h, out_w


def pad_hw(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes; returns x itself when there is nothing to pad."""
    if padding == (0, 0):
        return x
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def add_bias(out: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    if bias is not None:
        out += np.asarray(bias, dtype=out.dtype).reshape(1, -1, 1, 1)
    return out


class Workspace:
    """Scratch arrays reused across calls of one layer.

    Big temporaries (im2col columns, Winograd tiles) are tens of MB; allocating them fresh
    each call means the kernel page-faults and zeroes them every time, which cost Winograd a
    third of its run time in measurements. The engine gives each layer its own Workspace.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = np.empty(shape, dtype=dtype)
            self._arrays[name] = array
        return array


def scratch(workspace: Workspace | None, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A reusable buffer from `workspace`, or a fresh one when there is none."""
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    return workspace.get(name, shape, np.dtype(dtype))
