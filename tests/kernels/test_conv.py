"""Every conv algorithm against torch.nn.functional.conv2d, over shapes and parameters.

Tolerances (max abs error / max |reference|): im2col and naive 1e-5 (same products, other
summation order); Winograd F(2x2) 1e-4 (its transforms add roundings; typically ~5e-7);
Winograd F(4x4) 1e-3 (bigger transform coefficients, 1/6 and 1/24; typically ~1e-5); FFT 1e-3
(float32 butterflies; typically ~1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.errors import CnnoptError
from cnnopt.kernels import ConvLayer, applicable_algorithms, conv2d, conv2d_winograd
from cnnopt.kernels._common import Workspace
from cnnopt.kernels.winograd import winograd_filter_transform

TOLERANCE = {"naive": 1e-5, "im2col": 1e-5, "winograd": 1e-4, "winograd4": 1e-3, "fft": 1e-3}


@st.composite
def conv_cases(draw, winograd: bool = False):
    groups = 1 if winograd else draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    k = 3 if winograd else draw(st.integers(1, 4))
    stride = 1 if winograd else draw(st.integers(1, 3))
    dilation = 1 if winograd else draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    span = dilation * (k - 1) + 1
    h = draw(st.integers(max(1, span - 2 * padding), 13))
    w = draw(st.integers(max(1, span - 2 * padding), 13))
    n = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    return n, c_in, c_out, h, w, k, stride, padding, dilation, groups, seed


def _check(algorithm, case, bias=True):
    n, c_in, c_out, h, w, k, stride, padding, dilation, groups, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w), dtype=np.float32)
    weight = rng.standard_normal((c_out, c_in // groups, k, k), dtype=np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32) if bias else None
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(weight),
        None if b is None else torch.from_numpy(b),
        stride,
        padding,
        dilation,
        groups,
    ).numpy()
    got = conv2d(x, weight, b, stride, padding, dilation, groups, algorithm=algorithm)
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(got - expected).max() / scale < TOLERANCE[algorithm]


@pytest.mark.parametrize("algorithm", ["naive", "im2col", "fft"])
@settings(max_examples=25, deadline=None)
@given(case=conv_cases())
def test_general_algorithms_match_torch(algorithm, case):
    _check(algorithm, case)


@settings(max_examples=25, deadline=None)
@given(case=conv_cases(winograd=True), bias=st.booleans())
def test_winograd_matches_torch_on_3x3_stride1(case, bias):
    _check("winograd", case, bias)
    _check("winograd4", case, bias)
    _check("im2col", case, bias)


@pytest.mark.parametrize(("tile", "bound"), [(2, 2e-6), (4, 5e-5)])
def test_winograd_error_on_a_real_sized_layer_is_tiny(tile, bound):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 64, 15, 16), dtype=np.float32)
    w = rng.standard_normal((32, 64, 3, 3), dtype=np.float32) * 0.05
    u = winograd_filter_transform(w, tile)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    got = conv2d_winograd(x, w, padding=1, transformed=u)
    assert np.abs(got - ref).max() / np.abs(ref).max() < bound
    # the tile follows the transformed filter, and a Workspace gives the same answer twice
    workspace = Workspace()
    for _ in range(2):
        again = conv2d_winograd(x, w, padding=1, tile=tile, workspace=workspace)
        np.testing.assert_allclose(again, got, rtol=0, atol=1e-6)


def test_winograd_filter_transform_reproduces_the_conv_of_one_tile():
    """U = G g G^T: for one (tile+2)^2 input the Winograd product equals direct correlation."""
    rng = np.random.default_rng(3)
    for tile in (2, 4):
        w = rng.standard_normal((1, 1, 3, 3))
        u = winograd_filter_transform(w, tile)
        assert u.shape == ((tile + 2) ** 2, 1, 1) and u.dtype == np.float64
        x = rng.standard_normal((1, 1, tile + 2, tile + 2))
        got = conv2d_winograd(x, w, transformed=u)
        ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-12)


def test_winograd_refuses_a_mismatched_tile_or_transform():
    w = np.zeros((2, 3, 3, 3), np.float32)
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(CnnoptError, match="tile must be one of"):
        winograd_filter_transform(w, tile=3)
    with pytest.raises(CnnoptError, match="tile=4 but"):
        conv2d_winograd(x, w, transformed=winograd_filter_transform(w, 2), tile=4)
    with pytest.raises(CnnoptError, match="not a Winograd-transformed"):
        conv2d_winograd(x, w, transformed=np.zeros((10, 2, 3), np.float32))
    with pytest.raises(CnnoptError, match="channels"):
        conv2d_winograd(x, w, transformed=winograd_filter_transform(np.zeros((4, 3, 3, 3))))


def test_winograd_refuses_layers_it_cannot_compute():
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(CnnoptError, match="Winograd"):
        conv2d_winograd(x, np.zeros((2, 2, 3, 3), np.float32), stride=2)
    with pytest.raises(CnnoptError, match="3x3"):
        winograd_filter_transform(np.zeros((2, 2, 5, 5), np.float32))
    assert not {"winograd", "winograd4"} & set(applicable_algorithms((4, 4, 3, 3), stride=2))
    assert {"winograd", "winograd4"} <= set(applicable_algorithms((4, 4, 3, 3)))


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "message"),
    [
        ((2, 3, 8), (4, 3, 3, 3), {}, "4 dimensions"),
        ((1, 3, 8, 8), (4, 2, 3, 3), {}, "input channels"),
        ((1, 4, 8, 8), (4, 2, 3, 3), {"groups": 3}, "groups"),
        ((1, 3, 2, 2), (4, 3, 5, 5), {}, "too small"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"stride": 0}, "stride"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"algorithm": "magic"}, "unknown conv algorithm"),
    ],
)
def test_bad_arguments_raise_cnnopt_error_with_hint(x_shape, w_shape, kwargs, message):
    with pytest.raises(CnnoptError, match=message) as info:
        conv2d(np.zeros(x_shape, np.float32), np.zeros(w_shape, np.float32), **kwargs)
    assert info.value.hint


def test_conv_layer_picks_a_timed_algorithm_and_honours_a_forced_one():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 8, 3, 3), dtype=np.float32)
    x = rng.standard_normal((1, 8, 10, 10), dtype=np.float32)
    auto = ConvLayer(w, padding=1)
    out = auto(x)
    assert set(auto.timings[x.shape]) == {"im2col", "winograd", "winograd4", "fft"}
    assert auto.choice[x.shape] == min(auto.timings[x.shape], key=auto.timings[x.shape].get)
    forced = ConvLayer(w, padding=1, algorithm="winograd")
    np.testing.assert_allclose(forced(x), out, atol=1e-4)
    assert forced.choice[x.shape] == "winograd" and not forced.timings
    # a forced algorithm that cannot run the layer falls back to the general one
    assert ConvLayer(w, stride=2, algorithm="winograd").forced == "im2col"
