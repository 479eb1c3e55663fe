"""Pooling, fully connected, ReLU, batch norm (and folding) and softmax against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.errors import CnnoptError
from cnnopt.kernels import (
    adaptive_avgpool2d,
    avgpool2d,
    avgpool2d_naive,
    batchnorm2d,
    conv2d,
    fold_batchnorm,
    linear,
    maxpool2d,
    maxpool2d_naive,
    relu,
    softmax,
)


@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    data=st.data(),
    ceil_mode=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_pooling_matches_torch(k, s, data, ceil_mode, seed):
    p = data.draw(st.integers(0, k // 2))
    h, w = data.draw(st.integers(k, 10)), data.draw(st.integers(k, 10))
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w), dtype=np.float32)
    xt = torch.from_numpy(x)
    ref_max = F.max_pool2d(xt, k, s, p, ceil_mode=ceil_mode).numpy()
    ref_avg = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil_mode).numpy()
    np.testing.assert_array_equal(maxpool2d(x, k, s, p, ceil_mode), ref_max)
    np.testing.assert_allclose(avgpool2d(x, k, s, p, ceil_mode), ref_avg, atol=1e-6)
    if not ceil_mode:
        np.testing.assert_array_equal(maxpool2d_naive(x, k, s, p), ref_max)
        np.testing.assert_allclose(avgpool2d_naive(x, k, s, p), ref_avg, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 5), (5, 5)])
def test_adaptive_avgpool_matches_torch(size):
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 7), dtype=np.float32)
    ref = F.adaptive_avg_pool2d(torch.from_numpy(x), size).numpy()
    np.testing.assert_allclose(adaptive_avgpool2d(x, size), ref, atol=1e-6)


def test_pool_bad_padding_is_explained():
    with pytest.raises(CnnoptError, match="half the kernel"):
        maxpool2d(np.zeros((1, 1, 8, 8), np.float32), 2, 2, 2)


def test_linear_relu_softmax_match_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 7), dtype=np.float32)
    w, b = rng.standard_normal((3, 7), dtype=np.float32), rng.standard_normal(3, dtype=np.float32)
    ref = F.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
    np.testing.assert_allclose(linear(x, w, b), ref.numpy(), atol=1e-5)
    np.testing.assert_array_equal(relu(x), F.relu(torch.from_numpy(x)).numpy())
    big = x * 1000  # overflow check: exp(1000) is inf without the max shift
    np.testing.assert_allclose(softmax(big), F.softmax(torch.from_numpy(big), -1), atol=1e-6)
    with pytest.raises(CnnoptError, match="input features"):
        linear(x, w[:, :5], b)


def test_batchnorm_and_folding_match_torch_within_1e5():
    rng = np.random.default_rng(0)
    bn = torch.nn.BatchNorm2d(6).eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.2, 3)
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    args = [t.detach().numpy() for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)]
    x = rng.standard_normal((2, 4, 9, 9), dtype=np.float32)
    w = rng.standard_normal((6, 4, 3, 3), dtype=np.float32)
    b = rng.standard_normal(6, dtype=np.float32)
    conv_out = conv2d(x, w, b, padding=1)
    with torch.no_grad():
        ref = bn(torch.from_numpy(conv_out)).numpy()
    np.testing.assert_allclose(batchnorm2d(conv_out, *args, eps=bn.eps), ref, atol=1e-5)
    folded_w, folded_b = fold_batchnorm(w, b, *args, eps=bn.eps)
    np.testing.assert_allclose(conv2d(x, folded_w, folded_b, padding=1), ref, atol=1e-4)
    with pytest.raises(CnnoptError, match="filters"):
        fold_batchnorm(w[:5], b[:5], *args)
