"""Hypothesis strategy for small random CNNs: the odd topologies real users bring.

A network is a stem-less stack of 1-4 blocks, then global pooling and a linear head. Each
block draws its width (4-24), kernel (1/3/5), stride (1/2), grouping (plain or depthwise
separable), BatchNorm or not, and how it joins its input: not at all, a residual add (with a
strided 1x1 shortcut when the shapes differ) or a channel concatenation. BN statistics are
randomized so folding them is not a no-op. Inputs have 1-3 channels and 8-20 pixels a side.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn

JOINS = ("none", "add", "cat")


@dataclass(frozen=True)
class BlockSpec:
    width: int
    kernel: int
    stride: int
    depthwise: bool  # depthwise k x k (groups = channels) + pointwise 1x1
    batchnorm: bool
    join: str  # none | add | cat


@dataclass(frozen=True)
class NetSpec:
    in_channels: int
    size: int
    classes: int
    blocks: tuple[BlockSpec, ...]
    seed: int

    def example(self, batch: int = 2) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed)
        return torch.randn(batch, self.in_channels, self.size, self.size, generator=gen)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int, bn: bool) -> nn.Module:
    conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=not bn)
    return nn.Sequential(conv, nn.BatchNorm2d(cout)) if bn else conv


class Block(nn.Module):
    def __init__(self, cin: int, spec: BlockSpec) -> None:
        super().__init__()
        self.join = spec.join
        if spec.depthwise:
            self.body = nn.Sequential(
                _conv_bn(cin, cin, spec.kernel, spec.stride, cin, spec.batchnorm),
                nn.ReLU(),
                _conv_bn(cin, spec.width, 1, 1, 1, spec.batchnorm),
                nn.ReLU(),
            )
        else:
            self.body = nn.Sequential(
                _conv_bn(cin, spec.width, spec.kernel, spec.stride, 1, spec.batchnorm), nn.ReLU()
            )
        same_shape = spec.stride == 1 and (cin == spec.width or spec.join == "cat")
        self.shortcut = (
            nn.Identity()
            if same_shape or spec.join == "none"
            else _conv_bn(cin, cin if spec.join == "cat" else spec.width, 1, spec.stride, 1,
                          spec.batchnorm)
        )  # fmt: skip
        self.out_channels = spec.width + (cin if spec.join == "cat" else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.join == "add":
            return torch.relu(out + self.shortcut(x))
        if self.join == "cat":
            return torch.cat([out, self.shortcut(x)], dim=1)
        return out


class RandomNet(nn.Module):
    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        blocks, channels = [], spec.in_channels
        for block_spec in spec.blocks:
            block = Block(channels, block_spec)
            blocks.append(block)
            channels = block.out_channels
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, spec.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


def build(spec: NetSpec) -> nn.Module:
    """The model in eval mode with seeded weights and non-trivial BN statistics."""
    torch.manual_seed(spec.seed)
    return build_bn_stats(RandomNet(spec)).eval()


def build_bn_stats(model: nn.Module) -> nn.Module:
    """Random BN statistics and affine terms, so folding or pruning BN is never a no-op."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return model


blocks = st.builds(
    BlockSpec,
    width=st.integers(4, 24),
    kernel=st.sampled_from((1, 3, 5)),
    stride=st.sampled_from((1, 2)),
    depthwise=st.booleans(),
    batchnorm=st.booleans(),
    join=st.sampled_from(JOINS),
)
nets = st.builds(
    NetSpec,
    in_channels=st.integers(1, 3),
    size=st.integers(8, 20),
    classes=st.integers(2, 10),
    blocks=st.lists(blocks, min_size=1, max_size=4).map(tuple),
    seed=st.integers(0, 2**16),
)


def describe(spec: NetSpec) -> str:
    """One line per example for failure messages: enough to rebuild the net by hand."""
    parts = [
        f"{b.width}c k{b.kernel} s{b.stride}{' dw' if b.depthwise else ''}"
        f"{' bn' if b.batchnorm else ''} {b.join}"
        for b in spec.blocks
    ]
    return f"{spec.in_channels}x{spec.size}x{spec.size} -> " + " | ".join(parts)


# property name -> hypothesis examples run, printed at the end of the session by conftest.py
EXAMPLES_RUN: Counter[str] = Counter()
