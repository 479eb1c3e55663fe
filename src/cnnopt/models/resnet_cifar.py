"""CIFAR ResNets (He et al. 2016, section 4.2): 3 stages of 16/32/64 channels, depth 6n+2.

Shortcuts that change shape are 1x1 conv + BN ("option B") rather than zero-padding, so
every residual add is between two real tensors that pruning can keep aligned.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.models._layers import conv_bn_relu, init_weights, make_stage, scale_channels
from cnnopt.models.registry import register_model


class CifarResNet(nn.Module):
    def __init__(
        self,
        depth: int,
        num_classes: int,
        in_channels: int,
        width: float,
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        blocks = (depth - 2) // 6
        c1, c2, c3 = (scale_channels(c, width) for c in (16, 32, 64))
        self.stem = conv_bn_relu(in_channels, c1)  # N x c1 x H x W
        self.layer1 = make_stage(c1, c1, blocks, stride=1)
        self.layer2 = make_stage(c1, c2, blocks, stride=2)  # H/2
        self.layer3 = make_stage(c2, c3, blocks, stride=2)  # H/4
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))


@register_model("resnet20")
def resnet20(
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    zero_init_residual: bool = False,
) -> nn.Module:
    """ResNet-20 for CIFAR-sized inputs: 3x3 basic blocks, 16/32/64 channels, ~0.27M params."""
    model = CifarResNet(20, num_classes, in_channels, width)
    return init_weights(model, zero_init_residual)


@register_model("resnet56")
def resnet56(
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    zero_init_residual: bool = False,
) -> nn.Module:
    """ResNet-56 for CIFAR-sized inputs: 27 basic blocks, 16/32/64 channels, ~0.86M params."""
    model = CifarResNet(56, num_classes, in_channels, width)
    return init_weights(model, zero_init_residual)
