"""Low-rank factorization reproduces layers at full rank; sparsity reaches its target."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from transform_helpers import small_cnn, synthetic_data

from cnnopt.bench.counts import count_params
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model
from cnnopt.transforms import Context, apply
from cnnopt.transforms.lowrank import LowRankConfig
from cnnopt.transforms.sparsify import SparsifyConfig, weight_sparsity


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(6, 24, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(24, 32, 5, padding=4, dilation=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 6 * 6, 40),
        nn.ReLU(),
        nn.Linear(40, 5),
    ).eval()


@pytest.mark.parametrize("mode", ["spatial", "channel"])
def test_full_rank_reproduces_outputs(mode: str) -> None:
    model = _net()
    x = torch.randn(3, 6, 12, 12)
    expected = model(x)
    config = LowRankConfig(rank_ratio=1.0, mode=mode, skip_if_no_gain=False, round_to=1)
    factored = apply(copy.deepcopy(model), config, Context())
    assert all(isinstance(factored[i], nn.Sequential) for i in (0, 2, 5, 7))
    torch.testing.assert_close(factored(x), expected, atol=1e-4, rtol=1e-4)


@settings(max_examples=6, deadline=None)
@given(ratio=st.floats(0.05, 0.4), mode=st.sampled_from(["spatial", "channel"]))
def test_lower_rank_has_fewer_parameters(ratio: float, mode: str) -> None:
    model = create_model("vgg11_bn", width=0.25).eval()
    factored = apply(copy.deepcopy(model), LowRankConfig(rank_ratio=ratio, mode=mode), Context())
    assert count_params(factored) < count_params(model)
    assert factored(torch.randn(1, 3, 16, 16)).shape == (1, 10)


def test_energy_rank_keeps_more_with_higher_energy() -> None:
    model = create_model("resnet20").eval()
    low = apply(copy.deepcopy(model), LowRankConfig(rank_ratio=None, energy=0.5), Context())
    high = apply(copy.deepcopy(model), LowRankConfig(rank_ratio=None, energy=0.99), Context())
    assert count_params(low) < count_params(high) <= count_params(model)


@pytest.mark.parametrize(
    "kwargs", [{"rank_ratio": 0.0}, {"rank_ratio": None}, {"energy": 0.9}, {"mode": "x"}]
)
def test_lowrank_refuses_bad_options(kwargs: dict) -> None:
    with pytest.raises(CnnoptError):
        LowRankConfig(**kwargs).validate()


@settings(max_examples=8, deadline=None)
@given(sparsity=st.floats(0.0, 0.95), global_threshold=st.booleans())
def test_sparsify_reaches_target(sparsity: float, global_threshold: bool) -> None:
    model = small_cnn()
    ctx = Context()
    config = SparsifyConfig(sparsity=sparsity, global_threshold=global_threshold)
    out = apply(model, config, ctx)
    assert abs(weight_sparsity(out) - sparsity) < 0.01
    assert "gain no speed" in ctx.notes[-1]


def test_two_four_pattern_and_finetuning_keeps_zeros() -> None:
    data = synthetic_data(64, 8, 4)
    ctx = Context(train_data=data, val_data=data, progress=False)
    model = apply(small_cnn(), SparsifyConfig(pattern="2:4", finetune_epochs=1), ctx)
    groups = (model[3].weight.detach().reshape(32, -1, 4) != 0).sum(-1)
    assert (groups <= 2).all()  # 2:4 survives fine-tuning (masked gradients)
    assert model[0].weight.count_nonzero() == model[0].weight.numel()  # 27 inputs: left dense
    assert any("multiple of 4" in note for note in ctx.notes)
    with pytest.raises(CnnoptError):
        SparsifyConfig(pattern="2:4", sparsity=0.7).validate()
