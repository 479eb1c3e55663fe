"""Winograd F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplications.

Each 4x4 input tile d gives a 2x2 output tile Y = A^T [(G g G^T) * (B^T d B)] A. Across a
layer the elementwise product becomes 16 independent GEMMs, one per position in the 4x4
transformed tile: M[k] = U[k] (C_out x C_in) @ V[k] (C_in x tiles). That is 16 * Co*Ci*P
multiply-adds for P = N*OH*OW/4 tiles instead of 9 * Co*Ci*N*OH*OW for direct/im2col.

Speed comes from four choices: the filter transform U is computed once per layer (the engine
caches it); the input transform is 20 whole-array adds/subtracts on unit-stride views of the
padded input (no tile copies, no Python loop over tiles); the 16 GEMMs run as one batched
`np.matmul`; scratch buffers are reused across calls (a Workspace). It loses to im2col when
the layer is weight-bound (batch 1, 4x4 maps: U is 16/9 the size of the weights).
Accuracy: the transforms add a few float32 roundings; measured max error is ~5e-7 relative to
the output's scale (tests allow 1e-4).
"""

from __future__ import annotations

import numpy as np

from cnnopt.errors import CnnoptError
from cnnopt.kernels._common import IntPair, Workspace, add_bias, check_conv_args, scratch

# F(2x2, 3x3) matrices (Lavin & Gray, 2015).
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)


def winograd_applicable(
    weight_shape: tuple[int, ...], stride: IntPair = 1, dilation: IntPair = 1, groups: int = 1
) -> bool:
    """F(2x2,3x3) covers exactly 3x3 kernels with stride 1, dilation 1 and groups 1."""
    return (
        tuple(weight_shape[2:]) == (3, 3)
        and stride in (1, (1, 1))
        and dilation in (1, (1, 1))
        and groups == 1
    )


def winograd_filter_transform(weight: np.ndarray) -> np.ndarray:
    """U = G g G^T for every (C_out, C_in) filter, laid out (16, C_out, C_in) for the GEMMs."""
    weight = np.asarray(weight)
    if weight.ndim != 4 or weight.shape[2:] != (3, 3):
        raise CnnoptError(
            f"Winograd F(2x2,3x3) needs 3x3 filters, got weight shape {weight.shape}",
            "use algorithm='im2col' for other kernel sizes",
        )
    dtype = weight.dtype if weight.dtype in (np.float32, np.float64) else np.float32
    u = np.einsum("ai,ocij,bj->aboc", G, weight.astype(np.float64), G)  # (4, 4, Co, Ci)
    c_out, c_in = weight.shape[:2]
    return np.ascontiguousarray(u.reshape(16, c_out, c_in), dtype=dtype)


def _input_transform(
    xp: np.ndarray, tiles_h: int, tiles_w: int, workspace: Workspace | None = None
) -> np.ndarray:
    """V = B^T d B for all tiles at once: (16, C, N*tiles_h*tiles_w).

    Tile columns start at even offsets, so splitting the input into even and odd columns
    first (one copy) turns every column access into a unit-stride slice: the adds then run
    with SIMD instead of stride-2 gathers (that alone made this transform ~3x faster).
    """
    n, c, hp, wp = xp.shape
    # (2, C, N, Hp, Wp/2): [0] the even columns, [1] the odd ones, C first for the GEMMs.
    split = scratch(workspace, "split", (2, c, n, hp, wp // 2), xp.dtype)
    np.copyto(split, xp.reshape(n, c, hp, wp // 2, 2).transpose(4, 1, 0, 2, 3))
    even, odd = split[0], split[1]
    e0, e1 = even[..., :tiles_w], even[..., 1 : tiles_w + 1]  # tile columns 0 and 2
    o0, o1 = odd[..., :tiles_w], odd[..., 1 : tiles_w + 1]  # tile columns 1 and 3
    # d B along the tile columns: [d0-d2, d1+d2, d2-d1, d1-d3]
    cols = (e0 - e1, o0 + e1, e1 - o0, o0 - o1)  # each (C, N, Hp, tiles_w)
    v = scratch(workspace, "v", (4, 4, c, n, tiles_h, tiles_w), xp.dtype)
    for b, col in enumerate(cols):  # B^T d along the tile rows (row views stride 2)
        r = [col[:, :, i : i + 2 * tiles_h : 2] for i in range(4)]
        np.subtract(r[0], r[2], out=v[0, b])
        np.add(r[1], r[2], out=v[1, b])
        np.subtract(r[2], r[1], out=v[2, b])
        np.subtract(r[1], r[3], out=v[3, b])
    return v.reshape(16, c, n * tiles_h * tiles_w)


def _output_transform(
    m: np.ndarray, n: int, tiles_h: int, tiles_w: int, workspace: Workspace | None = None
) -> np.ndarray:
    """Y = A^T M A for all tiles: (16, C_out, P) -> (N, C_out, 2*tiles_h, 2*tiles_w)."""
    c_out = m.shape[1]
    m = m.reshape(4, 4, c_out, n, tiles_h, tiles_w)
    # A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] applied down the tile rows ...
    top = m[0] + m[1] + m[2]
    bottom = m[1] - m[2] - m[3]
    out = np.empty((n, c_out, tiles_h, 2, tiles_w, 2), dtype=m.dtype)  # returned: not scratch
    for r, half in enumerate((top, bottom)):  # ... then along the tile columns
        h = half.transpose(0, 2, 1, 3, 4)  # (4, N, C_out, th, tw)
        out[:, :, :, r, :, 0] = h[0] + h[1] + h[2]
        out[:, :, :, r, :, 1] = h[1] - h[2] - h[3]
    return out.reshape(n, c_out, 2 * tiles_h, 2 * tiles_w)


def conv2d_winograd(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    transformed: np.ndarray | None = None,
    workspace: Workspace | None = None,
) -> np.ndarray:
    """3x3 stride-1 conv via F(2x2,3x3); pass `transformed` (from winograd_filter_transform)
    to skip the filter transform on repeated calls, and a Workspace to reuse scratch memory."""
    x, weight, stride, (ph, pw), dilation, out_h, out_w = check_conv_args(
        x, weight, bias, stride, padding, dilation, groups
    )
    if not winograd_applicable(weight.shape, stride, dilation, groups):
        raise CnnoptError(
            f"Winograd F(2x2,3x3) needs a 3x3 kernel, stride 1, dilation 1, groups 1; got "
            f"kernel {weight.shape[2:]}, stride {stride}, dilation {dilation}, groups {groups}",
            "use algorithm='im2col' (or 'auto') for this layer",
        )
    u = winograd_filter_transform(weight) if transformed is None else transformed
    n = x.shape[0]
    tiles_h, tiles_w = -(-out_h // 2), -(-out_w // 2)
    # Pad so the tiles (4x4, step 2) cover the output; odd sizes get one extra zero row/col.
    extra_h = 2 * tiles_h + 2 - (x.shape[2] + 2 * ph)
    extra_w = 2 * tiles_w + 2 - (x.shape[3] + 2 * pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)))
    v = _input_transform(xp, tiles_h, tiles_w, workspace)
    m = scratch(workspace, "m", (16, weight.shape[0], v.shape[2]), x.dtype)
    np.matmul(u.astype(x.dtype, copy=False), v, out=m)  # 16 GEMMs: (Co x Ci) @ (Ci x P)
    y = _output_transform(m, n, tiles_h, tiles_w, workspace)
    if y.shape[2:] != (out_h, out_w):
        y = np.ascontiguousarray(y[:, :, :out_h, :out_w])
    return add_bias(y, bias)
