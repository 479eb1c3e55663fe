"""Fold BatchNorm into the conv/linear before it, and mark conv+BN+activation groups.

In eval mode BN is an affine map per channel, so `bn(conv(x))` equals a conv with scaled
weights and a shifted bias: one layer fewer to run, bit-for-bit the same predictions (up to
float rounding). Pairs are found with torch.fx when the model traces (any topology) and by
module order inside nn.Sequential otherwise. Needs no data: `apply(model, FuseConfig())`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
import torch.fx
from torch import nn

from cnnopt.transforms.base import Context, TransformConfig, register_transform
from cnnopt.transforms.finetune import set_submodule

FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.LeakyReLU, nn.Sigmoid)


@dataclass
class FuseConfig(TransformConfig):
    name = "fuse"

    fold_bn: bool = True  # exact in eval mode and always faster, so on by default
    mark_groups: bool = True  # record conv(+BN)+activation groups for runtimes that fuse them


@dataclass
class FusionGroup:
    """Module paths of one layer -> (BN) -> activation chain, for runtimes and the report."""

    layer: str
    bn: str | None
    activation: str | None


@register_transform(FuseConfig)
def fuse(model: nn.Module, config: FuseConfig, ctx: Context) -> nn.Module:
    pairs = find_chains(model)
    if config.mark_groups:
        model.cnnopt_fusion_groups = [  # type: ignore[assignment]
            {"layer": g.layer, "bn": g.bn, "activation": g.activation}
            for g in pairs
            if g.bn or g.activation
        ]
    if config.fold_bn:
        folded = 0
        for group in pairs:
            if group.bn is None:
                continue
            layer = model.get_submodule(group.layer)
            bn = model.get_submodule(group.bn)
            fold_bn_into(layer, bn)
            set_submodule(model, group.bn, nn.Identity())
            folded += 1
        if folded:
            ctx.notes.append(f"fuse: folded {folded} BatchNorm layer(s) into the layer before")
    return model


def fold_bn_into(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Scale the layer's output channels by gamma/sigma and move BN's shift into its bias."""
    with torch.no_grad():
        mean = bn.running_mean if bn.running_mean is not None else torch.zeros(bn.num_features)
        var = bn.running_var if bn.running_var is not None else torch.ones(bn.num_features)
        gamma = bn.weight if bn.affine else torch.ones_like(mean)
        beta = bn.bias if bn.affine else torch.zeros_like(mean)
        scale = gamma / torch.sqrt(var + bn.eps)  # (C_out,)
        weight = layer.weight
        shape = (-1,) + (1,) * (weight.dim() - 1)
        weight.mul_(scale.to(weight.dtype).view(shape))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(mean)
        new_bias = (bias - mean) * scale + beta
        if layer.bias is None:
            layer.bias = nn.Parameter(new_bias.to(weight.dtype))
        else:
            layer.bias.copy_(new_bias)


def find_chains(model: nn.Module) -> list[FusionGroup]:
    """Every conv/linear with what follows it: a BN fed only by it, then an activation."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # untraceable forward: fall back to Sequential order
        return _chains_from_sequentials(model)
    modules = dict(model.named_modules())
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    chains = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), FOLDABLE):
            continue
        if calls[node.target] > 1:
            continue  # a layer called twice cannot absorb one BN: its other call would change
        group = FusionGroup(node.target, None, None)
        current = node
        follower = _only_user(current)
        if (
            follower is not None
            and calls[follower.target] == 1
            and _is_foldable_bn(modules, follower, modules[node.target])
        ):
            group.bn = follower.target
            current = follower
            follower = _only_user(current)
        if follower is not None and isinstance(modules.get(follower.target), ACTIVATIONS):
            group.activation = follower.target
        chains.append(group)
    return chains


def _only_user(node: torch.fx.Node) -> torch.fx.Node | None:
    users = list(node.users)
    if len(users) == 1 and users[0].op == "call_module":
        return users[0]
    return None


def _is_foldable_bn(modules: dict[str, nn.Module], node: torch.fx.Node, layer: nn.Module) -> bool:
    bn = modules.get(node.target)
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or not bn.track_running_stats:
        return False
    out = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    return bn.num_features == out


def _chains_from_sequentials(model: nn.Module) -> list[FusionGroup]:
    chains = []
    for prefix, container in model.named_modules():
        if not isinstance(container, nn.Sequential):
            continue
        children = list(container.named_children())
        for i, (name, layer) in enumerate(children):
            if not isinstance(layer, FOLDABLE):
                continue
            path = f"{prefix}.{name}" if prefix else name
            group = FusionGroup(path, None, None)
            j = i + 1
            if j < len(children) and isinstance(children[j][1], nn.modules.batchnorm._BatchNorm):
                out = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
                if children[j][1].num_features == out and children[j][1].track_running_stats:
                    group.bn = f"{prefix}.{children[j][0]}" if prefix else children[j][0]
                    j += 1
            if j < len(children) and isinstance(children[j][1], ACTIVATIONS):
                group.activation = f"{prefix}.{children[j][0]}" if prefix else children[j][0]
            chains.append(group)
    return chains
