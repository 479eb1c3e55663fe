"""Hypothesis strategy for random CNNs with two or three heads, the way users build them.

The trunk is random_cnn's stack of blocks (residual adds, concatenations, depthwise convs,
BN or not). Each head taps the output of some block (not only the last), is a linear layer
behind global pooling + flatten or a 1x1 conv followed by pooling, and the heads are joined
by a sum, a channel concatenation, or returned as a tuple or a dict.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from random_cnn import Block, NetSpec, build_bn_stats, describe, nets
from torch import nn

JOINS = ("add", "cat", "tuple", "dict")
KINDS = ("linear", "conv")  # linear behind pool+flatten | 1x1 conv, then pooled


@dataclass(frozen=True)
class HeadsSpec:
    net: NetSpec
    join: str
    kinds: tuple[str, ...]
    taps: tuple[int, ...]  # which block's output each head reads (clipped to the blocks)
    classes: tuple[int, ...]  # per head; a sum uses the first for every head

    def example(self, batch: int = 2) -> torch.Tensor:
        return self.net.example(batch)

    def head_classes(self) -> tuple[int, ...]:
        return (self.classes[0],) * len(self.kinds) if self.join == "add" else self.classes


class MultiHeadNet(nn.Module):
    def __init__(self, spec: HeadsSpec) -> None:
        super().__init__()
        self.join = spec.join
        blocks, channels, widths = [], spec.net.in_channels, []
        for block_spec in spec.net.blocks:
            blocks.append(Block(channels, block_spec))
            channels = blocks[-1].out_channels
            widths.append(channels)
        self.blocks = nn.ModuleList(blocks)
        self.taps = [t % len(blocks) for t in spec.taps]
        self.kinds = list(spec.kinds)
        self.heads = nn.ModuleList(
            nn.Linear(widths[tap], n) if kind == "linear" else nn.Conv2d(widths[tap], n, 1)
            for kind, tap, n in zip(self.kinds, self.taps, spec.head_classes(), strict=True)
        )

    def forward(self, x: torch.Tensor):
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        outputs = []
        for head, kind, tap in zip(self.heads, self.kinds, self.taps, strict=True):
            f = features[tap]
            if kind == "linear":
                outputs.append(head(torch.flatten(F.adaptive_avg_pool2d(f, 1), 1)))
            else:
                outputs.append(F.adaptive_max_pool2d(head(f), 1).flatten(1))
        if self.join == "add":
            return sum(outputs[1:], outputs[0])
        if self.join == "cat":
            return torch.cat(outputs, dim=1)
        if self.join == "tuple":
            return tuple(outputs)
        return {f"head{i}": out for i, out in enumerate(outputs)}


def build_heads(spec: HeadsSpec) -> nn.Module:
    torch.manual_seed(spec.net.seed)
    return build_bn_stats(MultiHeadNet(spec)).eval()


@st.composite
def heads_nets(draw: st.DrawFn) -> HeadsSpec:
    count = draw(st.integers(2, 3))
    return HeadsSpec(
        net=draw(nets),
        join=draw(st.sampled_from(JOINS)),
        kinds=tuple(draw(st.sampled_from(KINDS)) for _ in range(count)),
        taps=tuple(draw(st.integers(0, 3)) for _ in range(count)),
        classes=tuple(draw(st.integers(2, 20)) for _ in range(count)),
    )


def describe_heads(spec: HeadsSpec) -> str:
    heads = ", ".join(
        f"{kind}@{tap}->{n}"
        for kind, tap, n in zip(spec.kinds, spec.taps, spec.head_classes(), strict=True)
    )
    return f"{describe(spec.net)} || heads {heads} joined by {spec.join}"
