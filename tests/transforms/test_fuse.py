"""BN folding is exact: folded models must match the unfolded ones (eval mode)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from cnnopt.models import create_model, list_models
from cnnopt.transforms import Context, apply
from cnnopt.transforms.fuse import FuseConfig


def _randomize_bn(model: nn.Module) -> None:
    """Non-trivial running stats, so folding is actually exercised (fresh BN is identity)."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@pytest.mark.parametrize("name", list_models())
def test_fold_matches_unfolded_on_every_zoo_model(name: str) -> None:
    model = create_model(name, num_classes=10, in_channels=3).eval()
    _randomize_bn(model)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(x)
        fused = apply(copy.deepcopy(model), FuseConfig())  # no data: empty Context
        got = fused(x)
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    left = sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert left < bns or bns == 0  # BN after a pool (fmnist_net) rightly stays unfolded
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got, expected, atol=1e-5 * scale, rtol=1e-5)


def test_linear_bn1d_is_folded_exactly() -> None:
    model = nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).eval()
    _randomize_bn(model)
    x = torch.randn(5, 12)
    expected = model(x)
    ctx = Context()
    fused = apply(copy.deepcopy(model), FuseConfig(), ctx)
    assert isinstance(fused[1], nn.Identity)
    torch.testing.assert_close(fused(x), expected, atol=1e-5, rtol=1e-5)
    assert fused.cnnopt_fusion_groups[0] == {"layer": "0", "bn": "1", "activation": "2"}
    assert any("folded 1" in note for note in ctx.notes)


class _Untraceable(nn.Module):
    """Data-dependent control flow defeats torch.fx, so the Sequential fallback is used."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) if x.sum() > -1e9 else x


def test_untraceable_model_uses_sequential_fallback() -> None:
    model = _Untraceable().eval()
    _randomize_bn(model)
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    fused = apply(copy.deepcopy(model), FuseConfig())
    assert isinstance(fused.body[1], nn.Identity)
    torch.testing.assert_close(fused(x), expected, atol=1e-5, rtol=1e-5)


def test_bn_not_fed_only_by_the_conv_is_kept() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.bn(y) + y  # conv output used twice: folding would change `y`

    model = Shared().eval()
    _randomize_bn(model)
    x = torch.randn(1, 3, 4, 4)
    expected = model(x)
    fused = apply(copy.deepcopy(model), FuseConfig())
    assert isinstance(fused.bn, nn.BatchNorm2d)
    torch.testing.assert_close(fused(x), expected)
