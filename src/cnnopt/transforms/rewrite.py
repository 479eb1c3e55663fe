"""Architecture rewrites: thinner layers, separable convs, smaller kernels and pools.

Unlike folding, these change what the model computes, so the result must be re-trained or
distilled (needs_finetune, and a note in the report). Each rewrite keeps every tensor shape
between layers, so the rest of the model and its output shape stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.outputs import flatten_outputs
from cnnopt.transforms.base import Context, TransformConfig, register_transform
from cnnopt.transforms.finetune import (
    example_input,
    finetune,
    mark_restructured,
    resolve_epochs,
    set_submodule,
)

KINDS = ("width", "separable", "kernel", "pool")


@dataclass
class RewriteConfig(TransformConfig):
    name = "rewrite"
    needs_finetune = True

    kind: str = "separable"  # width | separable | kernel | pool
    width: float = 0.5  # kind=width: channel multiplier relative to the current model
    kernel_from: int = 5  # kind=kernel: convs with this kernel size ...
    kernel_to: int = 3  # ... are center-cropped to this one (5x5 -> 3x3 is ~2.8x fewer MACs)
    pool_from: int = 3  # kind=pool: max/avg pools with this window ...
    pool_to: int = 2  # ... get this one, where the output shape does not change
    finetune_epochs: float | None = None  # None: the context's budget
    lr: float = 0.01

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise CnnoptError(f"unknown rewrite kind {self.kind!r}", f"use one of {KINDS}")
        if not 0 < self.width <= 1:
            raise CnnoptError(f"rewrite width must be in (0, 1], got {self.width}", "e.g. 0.5")
        if not 1 <= self.kernel_to < self.kernel_from or (self.kernel_from - self.kernel_to) % 2:
            raise CnnoptError(
                f"cannot shrink {self.kernel_from}x{self.kernel_from} kernels to "
                f"{self.kernel_to}x{self.kernel_to}",
                "kernel_to must be smaller by an even amount, e.g. 5 -> 3 or 7 -> 3",
            )
        if not 1 <= self.pool_to < self.pool_from:
            raise CnnoptError(
                f"pool_to ({self.pool_to}) must be >= 1 and below pool_from ({self.pool_from})",
                "e.g. pool_from 3, pool_to 2",
            )


@register_transform(RewriteConfig)
def rewrite(model: nn.Module, config: RewriteConfig, ctx: Context) -> nn.Module:
    if config.kind == "width":
        model = _rewrite_width(model, config, ctx)
        count = 1
    else:
        change = {"separable": _to_separable, "kernel": _smaller_kernel, "pool": _smaller_pool}
        count = change[config.kind](model, config, ctx)
        ctx.notes.append(f"rewrite {config.kind}: changed {count} layer(s)")
        if count:
            mark_restructured(model, f"rewrite:{config.kind}")
    epochs = resolve_epochs(config.finetune_epochs, ctx)
    if count == 0:
        return model
    if epochs > 0:
        model = finetune(model, ctx, epochs, transform="rewrite", lr=config.lr)
    else:
        ctx.notes.append(
            f"rewrite {config.kind}: the model computes something different now; re-train or "
            "distill it (finetune_epochs, or a distill step) before trusting its accuracy"
        )
    return model


def _rewrite_width(model: nn.Module, config: RewriteConfig, ctx: Context) -> nn.Module:
    """Rebuild from the zoo spec at a smaller width (fresh weights), else prune uniformly."""
    spec = getattr(model, "cnnopt_spec", None)
    if isinstance(spec, dict):
        from cnnopt.models import model_from_spec

        width = spec.get("width", 1.0) * config.width
        new = model_from_spec({**spec, "width": width})
        ctx.notes.append(
            f"rewrite width: rebuilt {spec['name']} at width {width:g} with fresh weights; "
            "it must be trained (or distilled from the original) from scratch"
        )
        return new.to(next(model.parameters()).device)
    from cnnopt.transforms.prune import PruneConfig, prune

    ctx.notes.append(
        "rewrite width: the model has no zoo spec, so channels were pruned uniformly instead "
        f"(ratio {1 - config.width:g}), keeping the most important weights"
    )
    if config.width == 1.0:
        return model
    return prune(model, PruneConfig(ratio=1 - config.width, finetune_epochs=0), ctx)


def _to_separable(model: nn.Module, config: RewriteConfig, ctx: Context) -> int:
    """kxk conv -> depthwise kxk + pointwise 1x1, from the best per-channel rank-1 fit.

    For each input channel c, W[:, c] (C_out x k*k) ~ a_c d_c^T: d_c becomes the depthwise
    filter and a_c the pointwise column, which is the closest separable conv to the original.
    """
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if type(m) is nn.Conv2d and m.groups == 1 and max(m.kernel_size) > 1
    ]
    for name, conv in targets:
        c_out, c_in, kh, kw = conv.weight.shape
        depthwise = nn.Conv2d(
            c_in,
            c_in,
            (kh, kw),
            conv.stride,
            conv.padding,
            conv.dilation,
            groups=c_in,
            bias=False,
            padding_mode=conv.padding_mode,
        )
        pointwise = nn.Conv2d(c_in, c_out, 1, bias=conv.bias is not None)
        with torch.no_grad():
            per_channel = conv.weight.permute(1, 0, 2, 3).reshape(c_in, c_out, kh * kw).double()
            u, s, vh = torch.linalg.svd(per_channel, full_matrices=False)
            root = s[:, 0].sqrt()  # (c_in,)
            depthwise.weight.copy_((root[:, None] * vh[:, 0, :]).reshape(c_in, 1, kh, kw))
            pointwise.weight.copy_((u[:, :, 0] * root[:, None]).T.reshape(c_out, c_in, 1, 1))
            if conv.bias is not None:
                pointwise.bias.copy_(conv.bias)
        set_submodule(model, name, nn.Sequential(depthwise, pointwise))
    return len(targets)


def _smaller_kernel(model: nn.Module, config: RewriteConfig, ctx: Context) -> int:
    """Center-crop kernels; padding shrinks by as much, so every output size is unchanged."""
    big = (config.kernel_from, config.kernel_from)
    cut = (config.kernel_from - config.kernel_to) // 2
    count = 0
    for name, conv in list(model.named_modules()):
        if not isinstance(conv, nn.Conv2d) or conv.kernel_size != big:
            continue
        if isinstance(conv.padding, str):
            continue  # 'same'/'valid' are symbolic: keep them out of the arithmetic
        padding = tuple(p - cut * d for p, d in zip(conv.padding, conv.dilation, strict=True))
        if min(padding) < 0:
            continue  # too little padding to give back: the map would shrink
        small = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            config.kernel_to,
            conv.stride,
            padding,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
            conv.padding_mode,
        )
        with torch.no_grad():
            end = cut + config.kernel_to
            small.weight.copy_(conv.weight[:, :, cut:end, cut:end])
            if conv.bias is not None:
                small.bias.copy_(conv.bias)
        set_submodule(model, name, small)
        count += 1
    return count


def _smaller_pool(model: nn.Module, config: RewriteConfig, ctx: Context) -> int:
    """Shrink pooling windows one layer at a time, keeping only those that leave shapes alone."""
    was_training = model.training
    model.eval()
    example = example_input(model, ctx).to(next(model.parameters()).device)
    count = 0
    for name, pool in list(model.named_modules()):
        if not isinstance(pool, nn.MaxPool2d | nn.AvgPool2d):
            continue
        if _pair(pool.kernel_size) != (config.pool_from, config.pool_from):
            continue
        stride = pool.stride if pool.stride else pool.kernel_size
        padding = min(_pair(pool.padding)[0], config.pool_to // 2)
        if isinstance(pool, nn.MaxPool2d):
            smaller: nn.Module = nn.MaxPool2d(
                config.pool_to, stride, padding, pool.dilation, ceil_mode=pool.ceil_mode
            )
        else:
            smaller = nn.AvgPool2d(
                config.pool_to,
                stride,
                padding,
                pool.ceil_mode,
                pool.count_include_pad,
                pool.divisor_override,
            )
        before = _shape_after(model, example, pool)
        set_submodule(model, name, smaller)
        try:  # the pool's own output and the model's outputs must keep their shapes
            same = _shape_after(model, example, smaller) == before
        except RuntimeError:
            same = False
        if same:
            count += 1
        else:
            set_submodule(model, name, pool)  # this window size would change a shape
    model.train(was_training)
    return count


def _shape_after(model: nn.Module, example: torch.Tensor, layer: nn.Module) -> list[tuple]:
    """Output shapes of `layer` (every call) and of the model on `example`."""
    shapes: list[tuple] = []
    handle = layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    try:
        with torch.no_grad():
            out = model(example)
    finally:
        handle.remove()
    _, outputs = flatten_outputs(out)  # a tensor, a tuple or a dict of them
    return shapes + [tuple(o.shape) for o in outputs]


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])
