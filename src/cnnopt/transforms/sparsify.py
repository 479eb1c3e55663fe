"""Unstructured magnitude sparsity, and the 2:4 pattern that sparse tensor cores accelerate.

Zeroed weights shrink a compressed file, but dense kernels (eager, torch.compile, ONNX
Runtime and OpenVINO on CPU) multiply the zeros anyway, so the transform says so in the
notes instead of letting a report imply a speed-up. 2:4 sparsity (two zeros in every four
consecutive input weights) is only faster through semi-structured sparse kernels on CUDA
GPUs of compute capability 8.0 or newer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.transforms.base import Context, TransformConfig, register_transform
from cnnopt.transforms.finetune import finetune, resolve_epochs

PATTERNS = ("unstructured", "2:4")
SPARSIFIABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass
class SparsifyConfig(TransformConfig):
    name = "sparsify"

    sparsity: float = 0.5  # fraction of weights set to zero (2:4 is always exactly 0.5)
    pattern: str = "unstructured"  # unstructured | 2:4
    global_threshold: bool = False  # one threshold for all layers: redundant layers lose more
    ignore: list[str] = field(default_factory=list)  # module names kept dense
    finetune_epochs: float | None = None  # zeros stay zero during fine-tuning (masked grads)
    lr: float = 0.01

    def validate(self) -> None:
        if self.pattern not in PATTERNS:
            raise CnnoptError(f"unknown sparsity pattern {self.pattern!r}", f"use {PATTERNS}")
        if not 0 <= self.sparsity < 1:
            raise CnnoptError(
                f"sparsity must be in [0, 1), got {self.sparsity}", "e.g. 0.5 zeroes half"
            )
        if self.pattern == "2:4" and self.sparsity != 0.5:
            raise CnnoptError(
                "2:4 sparsity is always 50%", "set sparsity: 0.5 or use pattern unstructured"
            )


@register_transform(SparsifyConfig)
def sparsify(model: nn.Module, config: SparsifyConfig, ctx: Context) -> nn.Module:
    layers = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, SPARSIFIABLE)
        and not any(name == p or name.startswith(p + ".") for p in config.ignore)
    ]
    if config.pattern == "2:4":
        unfit = [name for name, m in layers if m.weight[0].numel() % 4]
        layers = [(name, m) for name, m in layers if name not in unfit]
        if unfit:
            ctx.notes.append(
                f"sparsify: left {len(unfit)} layer(s) dense whose inputs per output are not a "
                f"multiple of 4 (2:4 needs that): {', '.join(unfit[:4])}"
            )
    if not layers:
        raise CnnoptError("no conv/linear layer to sparsify", "check the ignore list")
    masks = _masks([m.weight for _, m in layers], config)
    with torch.no_grad():
        for (_, module), mask in zip(layers, masks, strict=True):
            module.weight.mul_(mask)
    epochs = resolve_epochs(config.finetune_epochs, ctx)
    if epochs > 0:
        hooks = [
            m.weight.register_hook(lambda grad, mask=mask: grad * mask)
            for (_, m), mask in zip(layers, masks, strict=True)
        ]
        try:
            model = finetune(model, ctx, epochs, transform="sparsify", lr=config.lr)
        finally:
            for hook in hooks:
                hook.remove()
        with torch.no_grad():  # weight decay cannot regrow a zero, but be exact anyway
            for (_, module), mask in zip(layers, masks, strict=True):
                module.weight.mul_(mask)
    ctx.notes.append(
        f"sparsify: {weight_sparsity(model):.0%} of conv/linear weights are zero "
        f"({config.pattern}); dense CPU runtimes (eager, torch.compile, ONNX Runtime, "
        "OpenVINO) gain no speed from this, only a smaller compressed file"
        + (
            "; 2:4 is accelerated only by sparse kernels on CUDA GPUs (compute 8.0+)"
            if config.pattern == "2:4"
            else ""
        )
    )
    return model


def weight_sparsity(model: nn.Module) -> float:
    """Fraction of zeros among all conv/linear weights."""
    total = zeros = 0
    for module in model.modules():
        if isinstance(module, SPARSIFIABLE):
            total += module.weight.numel()
            zeros += int((module.weight == 0).sum())
    return zeros / max(total, 1)


def _masks(weights: list[torch.Tensor], config: SparsifyConfig) -> list[torch.Tensor]:
    if config.pattern == "2:4":
        return [_two_four_mask(w) for w in weights]
    if config.global_threshold:
        scores = torch.cat([w.detach().abs().flatten() for w in weights])
        threshold = _kth_smallest(scores, config.sparsity)
        return [(w.detach().abs() > threshold).to(w.dtype) for w in weights]
    return [_layer_mask(w.detach(), config.sparsity) for w in weights]


def _kth_smallest(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    k = round(sparsity * scores.numel())
    if k == 0:
        return scores.new_tensor(-1.0)
    return scores.kthvalue(k).values


def _layer_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Exactly round(sparsity * n) zeros, breaking ties by position, not by value."""
    k = round(sparsity * weight.numel())
    mask = torch.ones(weight.numel(), dtype=weight.dtype)
    if k:
        mask[torch.argsort(weight.abs().flatten(), stable=True)[:k]] = 0
    return mask.view_as(weight)


def _two_four_mask(weight: torch.Tensor) -> torch.Tensor:
    """Keep the 2 largest of every 4 consecutive weights along the input dimension."""
    flat = weight.detach().reshape(weight.shape[0], -1)  # callers skip widths not divisible by 4
    groups = flat.abs().reshape(flat.shape[0], -1, 4)
    keep = groups.topk(2, dim=-1).indices
    mask = torch.zeros_like(groups).scatter_(-1, keep, 1.0)
    return mask.reshape(weight.shape)
