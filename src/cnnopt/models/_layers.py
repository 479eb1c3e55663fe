"""Building blocks shared by the model families.

Every block is made of plain modules (Conv2d, BatchNorm2d, ReLU modules, an explicit
`shortcut`) so that torch-pruning can follow channel dependencies, torch.fx can trace the
forward, BN folding finds conv->bn pairs, and ONNX export sees a static graph.
"""

from __future__ import annotations

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of `divisor`, never losing more than 10%.

    Multiples of 8 keep SIMD lanes and int8 GEMM tiles full; the 10% rule is MobileNet's,
    so a small width multiplier cannot collapse a layer to almost nothing.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def scale_channels(channels: int, width: float) -> int:
    """Channels for a width multiplier: unchanged at 1.0 so the reference sizes stay exact."""
    if width == 1.0:
        return channels
    return make_divisible(channels * width)


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """conv (no bias: BN has one) -> BN -> activation, the unit BN folding and fusion expect."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
        activation(inplace=False),
    )


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs plus a shortcut, summed before the last ReLU.

    The shortcut is always a module (Identity or 1x1 conv + BN) rather than an `if` in
    forward, so the residual add is visible to pruning and tracing as a real dependency.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU(inplace=False)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


def make_stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    """`blocks` BasicBlocks; only the first one changes resolution and width."""
    layers = [BasicBlock(in_channels, out_channels, stride)]
    layers += [BasicBlock(out_channels, out_channels, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> nn.Module:
    """Kaiming for convs (ReLU nets train from scratch without warm-up), BN at identity.

    `zero_init_residual` starts every residual branch at zero (Goyal et al.), which helps
    large-batch training; it is off by default because magnitude-based pruning of an
    untrained model would then see all-zero BN scales.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)
    return model
