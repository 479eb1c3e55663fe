"""Low-rank factorization: one big layer becomes two thin ones via a truncated SVD.

A linear W (out x in) ~ U S V^T becomes Linear(in->r) then Linear(r->out). A kxk conv is
split either spatially (Jaderberg et al. 2014: kx1 C_in->r then 1xk r->C_out) or along
channels (kxk C_in->r then 1x1 r->C_out). At full rank both reproduce the layer exactly;
below it they trade accuracy for MACs, so layers where the pair would cost as much as the
original are left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.transforms.base import Context, TransformConfig, register_transform
from cnnopt.transforms.finetune import finetune, mark_restructured, resolve_epochs, set_submodule

MODES = ("spatial", "channel")
LAYERS = ("all", "conv", "linear")


@dataclass
class LowRankConfig(TransformConfig):
    name = "lowrank"
    needs_finetune = True

    rank_ratio: float | None = 0.5  # rank as a fraction of each layer's full rank
    energy: float | None = None  # or: smallest rank keeping this share of sum(sigma^2)
    mode: str = "channel"  # channel split works for 1x1 convs too; spatial needs k > 1
    layers: str = "all"  # all | conv | linear
    ignore: list[str] = field(default_factory=list)  # module names never factorized
    round_to: int = 8  # ranks in multiples of 8 keep the thin layers SIMD-friendly
    skip_if_no_gain: bool = True  # leave layers whose two factors cost >= the original MACs
    finetune_epochs: float | None = None  # None: the context's budget
    lr: float = 0.01

    def validate(self) -> None:
        if (self.rank_ratio is None) == (self.energy is None):
            raise CnnoptError(
                "lowrank needs exactly one of rank_ratio and energy",
                "e.g. rank_ratio: 0.5, or energy: 0.95 with rank_ratio: null",
            )
        for label, value in (("rank_ratio", self.rank_ratio), ("energy", self.energy)):
            if value is not None and not 0 < value <= 1:
                raise CnnoptError(
                    f"lowrank {label} must be in (0, 1], got {value}", "e.g. 0.5 (1 = full rank)"
                )
        if self.mode not in MODES:
            raise CnnoptError(f"unknown lowrank mode {self.mode!r}", f"use one of {MODES}")
        if self.layers not in LAYERS:
            raise CnnoptError(f"unknown lowrank layers {self.layers!r}", f"use one of {LAYERS}")
        if self.round_to < 1:
            raise CnnoptError(f"round_to must be >= 1, got {self.round_to}", "e.g. 8")


@register_transform(LowRankConfig)
def lowrank(model: nn.Module, config: LowRankConfig, ctx: Context) -> nn.Module:
    targets = [
        (name, module) for name, module in model.named_modules() if _selected(name, module, config)
    ]
    replaced = 0
    for name, module in targets:
        new = factorize(module, config)
        if new is not None:
            set_submodule(model, name, new)
            replaced += 1
    if replaced:
        mark_restructured(model, "lowrank")
    ctx.notes.append(f"lowrank: factorized {replaced} of {len(targets)} candidate layers")
    epochs = resolve_epochs(config.finetune_epochs, ctx)
    if replaced and epochs > 0:
        model = finetune(model, ctx, epochs, transform="lowrank", lr=config.lr)
    return model


def _selected(name: str, module: nn.Module, config: LowRankConfig) -> bool:
    if any(name == p or name.startswith(p + ".") for p in config.ignore):
        return False
    if isinstance(module, nn.Linear):
        return config.layers in ("all", "linear")
    return (
        type(module) is nn.Conv2d
        and module.groups == 1
        and config.layers in ("all", "conv")
        and not (config.mode == "spatial" and module.kernel_size == (1, 1))
    )


def choose_rank(singular: torch.Tensor, config: LowRankConfig) -> int:
    """Rank by ratio of the full rank or by kept energy, rounded up to `round_to`."""
    full = len(singular)
    if config.energy is not None:
        energy = singular.double() ** 2
        cumulative = torch.cumsum(energy, 0) / energy.sum().clamp_min(1e-30)
        rank = int(torch.searchsorted(cumulative, torch.tensor(config.energy - 1e-12)).item()) + 1
    else:
        rank = math.ceil(config.rank_ratio * full)  # type: ignore[operator]
    rank = math.ceil(rank / config.round_to) * config.round_to
    return max(1, min(rank, full))


def factorize(module: nn.Module, config: LowRankConfig) -> nn.Module | None:
    """The two-layer replacement for `module`, or None when it would not save MACs."""
    with torch.no_grad():
        if isinstance(module, nn.Linear):
            return _factorize_linear(module, config)
        if config.mode == "spatial":
            return _factorize_spatial(module, config)
        return _factorize_channel(module, config)


def _split(matrix: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """matrix ~ left @ right with the singular values shared evenly between the factors."""
    u, s, vh = torch.linalg.svd(matrix.double(), full_matrices=False)
    root = s[:rank].sqrt()
    left = (u[:, :rank] * root).to(matrix.dtype)
    right = (root[:, None] * vh[:rank]).to(matrix.dtype)
    return left, right


def _singular(matrix: torch.Tensor) -> torch.Tensor:
    return torch.linalg.svdvals(matrix.double())


def _factorize_linear(layer: nn.Linear, config: LowRankConfig) -> nn.Module | None:
    weight = layer.weight  # out x in
    rank = choose_rank(_singular(weight), config)
    cost = rank * (layer.in_features + layer.out_features)
    if config.skip_if_no_gain and cost >= layer.in_features * layer.out_features:
        return None
    left, right = _split(weight, rank)
    first = nn.Linear(layer.in_features, rank, bias=False)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None)
    first.weight.copy_(right)
    second.weight.copy_(left)
    if layer.bias is not None:
        second.bias.copy_(layer.bias)
    return nn.Sequential(first, second)


def _factorize_channel(conv: nn.Conv2d, config: LowRankConfig) -> nn.Module | None:
    c_out, c_in, kh, kw = conv.weight.shape
    matrix = conv.weight.reshape(c_out, c_in * kh * kw)
    rank = choose_rank(_singular(matrix), config)
    if config.skip_if_no_gain and rank * (c_in * kh * kw + c_out) >= c_out * c_in * kh * kw:
        return None
    left, right = _split(matrix, rank)
    first = nn.Conv2d(
        c_in,
        rank,
        (kh, kw),
        conv.stride,
        conv.padding,
        conv.dilation,
        bias=False,
        padding_mode=conv.padding_mode,
    )
    second = nn.Conv2d(rank, c_out, 1, bias=conv.bias is not None)
    first.weight.copy_(right.reshape(rank, c_in, kh, kw))
    second.weight.copy_(left.reshape(c_out, rank, 1, 1))
    if conv.bias is not None:
        second.bias.copy_(conv.bias)
    return nn.Sequential(first, second)


def _factorize_spatial(conv: nn.Conv2d, config: LowRankConfig) -> nn.Module | None:
    c_out, c_in, kh, kw = conv.weight.shape
    if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
        return None  # 'same'/'valid' strings and non-zero padding do not split per axis
    # rows: (c_in, i), columns: (c_out, j), so M[(c,i),(n,j)] = W[n,c,i,j]
    matrix = conv.weight.permute(1, 2, 0, 3).reshape(c_in * kh, c_out * kw)
    rank = choose_rank(_singular(matrix), config)
    # the vertical conv runs at the full input width: stride_w times more positions
    cost = rank * c_in * kh * conv.stride[1] + rank * c_out * kw
    if config.skip_if_no_gain and cost >= c_out * c_in * kh * kw:
        return None
    left, right = _split(matrix, rank)  # left: (c_in*kh, r), right: (r, c_out*kw)
    vertical = nn.Conv2d(
        c_in,
        rank,
        (kh, 1),
        (conv.stride[0], 1),
        (conv.padding[0], 0),
        (conv.dilation[0], 1),
        bias=False,
    )
    horizontal = nn.Conv2d(
        rank,
        c_out,
        (1, kw),
        (1, conv.stride[1]),
        (0, conv.padding[1]),
        (1, conv.dilation[1]),
        bias=conv.bias is not None,
    )
    vertical.weight.copy_(left.T.reshape(rank, c_in, kh, 1))
    horizontal.weight.copy_(right.reshape(rank, c_out, kw).permute(1, 0, 2).unsqueeze(2))
    if conv.bias is not None:
        horizontal.bias.copy_(conv.bias)
    return nn.Sequential(vertical, horizontal)
