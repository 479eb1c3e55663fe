"""The config/dispatch contract every transform follows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.transforms.base import Context, TransformConfig, apply, config_class, register_transform


@dataclass
class _ScaleConfig(TransformConfig):
    name = "_test_scale"
    factor: float = 2.0

    def validate(self) -> None:
        if self.factor <= 0:
            raise CnnoptError(f"factor must be > 0, got {self.factor}", "use e.g. 2.0")


@register_transform(_ScaleConfig)
def _scale(model: nn.Module, config: _ScaleConfig, ctx: Context) -> nn.Module:
    return nn.Sequential(model, _Mul(config.factor))


class _Mul(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def test_dispatch_on_config_type():
    import torch

    out = apply(nn.Identity(), _ScaleConfig(3.0))
    assert torch.equal(out(torch.ones(2)), torch.full((2,), 3.0))
    assert config_class("_test_scale") is _ScaleConfig


def test_dict_round_trip_and_unknown_option():
    cfg = _ScaleConfig(1.5)
    data = cfg.to_dict()
    assert data == {"transform": "_test_scale", "version": 1, "factor": 1.5}
    assert _ScaleConfig.from_dict(data) == cfg
    with pytest.raises(CnnoptError, match="no option"):
        _ScaleConfig.from_dict({"factr": 2})
    with pytest.raises(CnnoptError, match="factor must be > 0"):
        _ScaleConfig.from_dict({"factor": -1})
    with pytest.raises(CnnoptError, match="factor must be a number, got '2'"):
        _ScaleConfig.from_dict({"factor": "2"})  # not a TypeError from inside validate()


def test_unknown_config_lists_known_transforms():
    @dataclass
    class Orphan(TransformConfig):
        name = "orphan"

    with pytest.raises(CnnoptError, match="known transforms"):
        apply(nn.Identity(), Orphan())
    with pytest.raises(CnnoptError, match="unknown transform 'nope'"):
        config_class("nope")


def test_context_require_names_the_missing_input():
    with pytest.raises(CnnoptError, match="needs train data"):
        Context().require("train_data", "prune")
