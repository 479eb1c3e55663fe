"""Winograd F(m x m, 3x3) for m = 2 and m = 4: 3x3 stride-1 convs with 2.25x / 4x fewer
multiplications than direct convolution or im2col.

Each (m+2)x(m+2) input tile d gives an m x m output tile Y = A^T [(G g G^T) * (B^T d B)] A.
Across a layer the elementwise product becomes a^2 independent GEMMs (a = m + 2), one per
position in the transformed tile: M[k] = U[k] (C_out x C_in) @ V[k] (C_in x P), for
P = N * ceil(OH/m) * ceil(OW/m) tiles. F(2x2) does 16 multiply-adds per 4 outputs, F(4x4) 36 per
16, direct convolution 9 per output.

Where the time goes, and the choices that keep it small:
- The filter transform U is computed once per layer (the engine caches it).
- The input and output transforms are small matrix products (B^T, A^T) applied along one
  spatial axis at a time, so each runs as one BLAS GEMM over the whole layer: BLAS reads the
  data once at memory speed, on every thread BLAS has. Writing them as whole-array adds
  instead costs one memory pass per coefficient (about 20 for F(4x4)) on a single thread.
- The only copies are the overlapping-tile gathers (a/m times the data on each axis) and the
  final scatter into NCHW; scratch buffers are reused across calls (a Workspace).
- Why it can lose: the transformed filters are a^2/9 times the size of the weights (1.8x for
  F(2x2), 4x for F(4x4)). At batch 1 on a 4x4 map a layer is a matrix-vector product whose
  time is reading the weights, so im2col wins there; Winograd wins where the GEMMs have enough
  tiles to be compute-bound.
Accuracy: the transforms add float32 roundings; F(2x2) stays within ~1e-6 and F(4x4) within
~1e-5 of the output's scale (its matrices hold 1/6, 1/24 and 4, 5; tests allow 1e-4 and 1e-3).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnopt.errors import CnnoptError
from cnnopt.kernels._common import IntPair, Workspace, add_bias, check_conv_args, scratch

# Transform matrices (Lavin & Gray, 2015), keyed by the output tile size m.
_MATRICES = {
    2: (
        np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),  # B^T
        np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),  # G
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]]),  # A^T
    ),
    4: (
        np.array(
            [
                [4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1],
            ]
        ),
        np.array(
            [
                [1 / 4, 0, 0],
                [-1 / 6, -1 / 6, -1 / 6],
                [-1 / 6, 1 / 6, -1 / 6],
                [1 / 24, 1 / 12, 1 / 6],
                [1 / 24, -1 / 12, 1 / 6],
                [0, 0, 1],
            ]
        ),
        np.array(
            [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
        ),
    ),
}
TILES = tuple(_MATRICES)
DEFAULT_TILE = 2  # F(2x2, 3x3), the textbook algorithm; tile=4 is F(4x4, 3x3)


def winograd_applicable(
    weight_shape: tuple[int, ...], stride: IntPair = 1, dilation: IntPair = 1, groups: int = 1
) -> bool:
    """F(m x m, 3x3) covers exactly 3x3 kernels with stride 1, dilation 1 and groups 1."""
    return (
        tuple(weight_shape[2:]) == (3, 3)
        and stride in (1, (1, 1))
        and dilation in (1, (1, 1))
        and groups == 1
    )


def _check_tile(tile: int) -> int:
    if tile not in _MATRICES:
        raise CnnoptError(
            f"Winograd output tile must be one of {TILES}, got {tile!r}",
            "use tile=2 (most exact) or tile=4 (fewest multiplications)",
        )
    return tile


def winograd_filter_transform(weight: np.ndarray, tile: int = DEFAULT_TILE) -> np.ndarray:
    """U = G g G^T for every (C_out, C_in) filter, laid out (a*a, C_out, C_in) for the GEMMs.

    Index k = row * a + column: the input transform below produces V in that order.
    """
    weight = np.asarray(weight)
    if weight.ndim != 4 or weight.shape[2:] != (3, 3):
        raise CnnoptError(
            f"Winograd needs 3x3 filters, got weight shape {weight.shape}",
            "use algorithm='im2col' for other kernel sizes",
        )
    g = _MATRICES[_check_tile(tile)][1]
    dtype = weight.dtype if weight.dtype in (np.float32, np.float64) else np.float32
    u = np.einsum("ri,ocij,bj->rboc", g, weight.astype(np.float64), g)  # (a, a, Co, Ci)
    c_out, c_in = weight.shape[:2]
    return np.ascontiguousarray(u.reshape(len(g) ** 2, c_out, c_in), dtype=dtype)


def tile_of(transformed: np.ndarray) -> int:
    """The output tile size m that a transformed filter (a*a, Co, Ci) was made for."""
    side = round(transformed.shape[0] ** 0.5)
    if transformed.ndim != 3 or side * side != transformed.shape[0] or side - 2 not in _MATRICES:
        raise CnnoptError(
            f"not a Winograd-transformed filter: shape {transformed.shape}",
            "pass the output of winograd_filter_transform(weight, tile)",
        )
    return side - 2


def _padded_channels_first(
    x: np.ndarray, padding: tuple[int, int], size: tuple[int, int], workspace: Workspace | None
) -> np.ndarray:
    """(C, N, Hp, Wp): the zero-padded input, channels first so the GEMMs see (C_in x P).

    One copy does the padding and the transpose; only the border is zeroed, not the buffer.
    """
    n, c, h, w = x.shape
    (ph, pw), (hp, wp) = padding, size
    z = scratch(workspace, "padded", (c, n, hp, wp), x.dtype)
    z[:, :, :ph] = 0
    z[:, :, ph + h :] = 0
    z[:, :, ph : ph + h, :pw] = 0
    z[:, :, ph : ph + h, pw + w :] = 0
    np.copyto(z[:, :, ph : ph + h, pw : pw + w], x.transpose(1, 0, 2, 3))
    return z


def _input_transform(
    z: np.ndarray, tile: int, tiles: tuple[int, int], workspace: Workspace | None
) -> np.ndarray:
    """V = B^T d B for all tiles: (a*a, C, P), as two GEMMs with B^T (columns, then rows).

    Columns go first: their gather reads with a stride (tile starts are `tile` apart), and
    before the row expansion there are fewer values to gather; the rows' gather then copies
    contiguous runs of tile columns.
    """
    bt = _MATRICES[tile][0].astype(z.dtype)
    a = len(bt)
    c, n, hp, _ = z.shape
    th, tw = tiles
    s_c, s_n, s_h, s_w = z.strides
    # Columns: gather tile column j of every tile (a, C, N, Hp, tw); B^T mixes the a columns.
    cols = as_strided(z, (a, c, n, hp, tw), (s_w, s_c, s_n, s_h, tile * s_w), writeable=False)
    gathered = scratch(workspace, "cols", cols.shape, z.dtype)
    np.copyto(gathered, cols)
    mixed = scratch(workspace, "mixed", cols.shape, z.dtype)
    np.matmul(bt, gathered.reshape(a, -1), out=mixed.reshape(a, -1))
    # Rows: gather tile row i (a_row, a_col, C, N, th, tw); B^T mixes the rows.
    m_a, m_c, m_n, m_h, m_w = mixed.strides
    rows = as_strided(
        mixed, (a, a, c, n, th, tw), (m_h, m_a, m_c, m_n, tile * m_h, m_w), writeable=False
    )
    gathered = scratch(workspace, "rows", rows.shape, z.dtype)
    np.copyto(gathered, rows)
    v = scratch(workspace, "v", (a * a, c, n * th * tw), z.dtype)
    np.matmul(bt, gathered.reshape(a, -1), out=v.reshape(a, -1))
    return v


def _output_transform(
    m: np.ndarray, tile: int, n: int, tiles: tuple[int, int], workspace: Workspace | None
) -> np.ndarray:
    """Y = A^T M A for all tiles: (a*a, C_out, P) -> (N, C_out, m*th, m*tw), two GEMMs."""
    at = _MATRICES[tile][2].astype(m.dtype)
    a = at.shape[1]
    c_out = m.shape[1]
    th, tw = tiles
    # Rows first (index k = row * a + column): (m_row, a_col * C_out * P), contiguous.
    half = scratch(workspace, "half", (tile, a, c_out * n * th * tw), m.dtype)
    np.matmul(at, m.reshape(a, -1), out=half.reshape(tile, -1))
    # Then columns, one GEMM per output row: (m_row, m_col, C_out, N, th, tw).
    done = scratch(workspace, "done", (tile, tile, c_out * n * th * tw), m.dtype)
    np.matmul(at, half, out=done)
    done = done.reshape(tile, tile, c_out, n, th, tw)
    out = np.empty((n, c_out, th, tile, tw, tile), dtype=m.dtype)  # returned: not scratch
    np.copyto(out, done.transpose(3, 2, 4, 0, 5, 1))
    return out.reshape(n, c_out, tile * th, tile * tw)


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
    tile: int | None = None,
) -> np.ndarray:
    """3x3 stride-1 conv via F(tile x tile, 3x3): F(2x2) by default, or the tile that
    `transformed` was made for. Pass `transformed` (from winograd_filter_transform) to skip
    the filter transform on repeated calls, and a Workspace to reuse scratch memory."""
    x, weight, stride, (ph, pw), dilation, out_h, out_w = check_conv_args(
        x, weight, bias, stride, padding, dilation, groups
    )
    if not winograd_applicable(weight.shape, stride, dilation, groups):
        raise CnnoptError(
            f"Winograd needs a 3x3 kernel, stride 1, dilation 1, groups 1; got "
            f"kernel {weight.shape[2:]}, stride {stride}, dilation {dilation}, groups {groups}",
            "use algorithm='im2col' (or 'auto') for this layer",
        )
    if transformed is None:
        tile = _check_tile(DEFAULT_TILE if tile is None else tile)
        transformed = winograd_filter_transform(weight, tile)
    elif tile is not None and tile != tile_of(transformed):
        raise CnnoptError(
            f"tile={tile} but the transformed filter was made for tile={tile_of(transformed)}",
            "pass the same tile to winograd_filter_transform and conv2d_winograd",
        )
    tile = tile_of(transformed)
    if transformed.shape[1:] != weight.shape[:2]:
        raise CnnoptError(
            f"transformed filter is for {transformed.shape[1:]} (C_out, C_in) channels, the "
            f"weight has {weight.shape[:2]}",
            "recompute it with winograd_filter_transform(weight)",
        )
    n = x.shape[0]
    tiles = (-(-out_h // tile), -(-out_w // tile))
    # Tiles of side tile+2 at steps of `tile` must cover the output: pad past the conv padding.
    size = (tile * tiles[0] + 2, tile * tiles[1] + 2)
    z = _padded_channels_first(x, (ph, pw), size, workspace)
    v = _input_transform(z, tile, tiles, workspace)
    m = scratch(workspace, "m", (v.shape[0], weight.shape[0], v.shape[2]), x.dtype)
    np.matmul(transformed.astype(x.dtype, copy=False), v, out=m)  # a*a GEMMs: (Co x Ci) @ (Ci x P)
    y = _output_transform(m, tile, n, tiles, workspace)
    if y.shape[2:] != (out_h, out_w):
        y = np.ascontiguousarray(y[:, :, :out_h, :out_w])
    return add_bias(y, bias)
