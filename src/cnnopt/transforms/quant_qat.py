"""Quantization-aware training: fake-quant in torch, fine-tune, export as a QDQ graph.

Each Conv2d/Linear is wrapped so that its input passes a per-tensor activation fake-quant
(int8 symmetric, range tracked by an exponential moving average of min/max while training)
and its weight a per-output-channel symmetric int8 fake-quant (scale from the current
weights). Rounding is simulated in the forward pass and skipped in the backward pass
(straight-through), so fine-tuning learns weights that survive int8. torch's ONNX exporter
writes `fake_quantize_per_tensor/per_channel_affine` as QuantizeLinear + DequantizeLinear, so
the exported graph carries the learned ranges and ONNX Runtime / OpenVINO run it as int8.
BatchNorm is folded first (when the fuse transform can), so the weights quantized during
training are the deployed ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

QMIN, QMAX = -128, 127  # the only int8 range torch's ONNX exporter maps to QDQ


class ActFakeQuant(nn.Module):
    """Per-tensor symmetric int8 fake-quant with an EMA-observed range."""

    def __init__(self, momentum: float = 0.05) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("absmax", torch.tensor(0.0))
        self.register_buffer("observed", torch.tensor(False))

    def observe(self, x: torch.Tensor) -> None:
        value = x.detach().abs().amax().float()
        if not bool(self.observed):
            self.absmax.copy_(value)
            self.observed.fill_(True)
        else:
            self.absmax.lerp_(value, self.momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.observe(x)
        scale = (self.absmax / QMAX).clamp_min(1e-8)
        zero_point = torch.zeros((), dtype=torch.int32)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, QMIN, QMAX)


def channel_scale(weight: torch.Tensor, qmax: int = QMAX) -> torch.Tensor:
    """Per-output-channel symmetric int8 scale, as ONNX Runtime's PTQ uses for weights.
    qmax 63 gives 7-bit weights (reduce_range) inside the exporter's int8 range."""
    dims = tuple(range(1, weight.ndim))
    return (weight.detach().abs().amax(dim=dims) / qmax).clamp_min(1e-8).float()


class _QatLayer(nn.Module):
    """Fake-quantizes the wrapped layer's input and weight. The weight scale is a buffer
    (refreshed every training step) so the exported graph holds it as a constant."""

    def __init__(
        self, inner: nn.Module, act: ActFakeQuant | None = None, weight_qmax: int = QMAX
    ) -> None:
        super().__init__()
        self.inner = inner
        self.act = act or ActFakeQuant()
        self.weight_qmax = weight_qmax
        self.register_buffer("weight_scale", channel_scale(inner.weight, weight_qmax))

    def quantized_weight(self) -> torch.Tensor:
        if self.training:
            self.weight_scale.copy_(channel_scale(self.inner.weight, self.weight_qmax))
        zero_point = torch.zeros(self.weight_scale.shape[0], dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(
            self.inner.weight, self.weight_scale, zero_point, 0, QMIN, QMAX
        )


class QatConv2d(_QatLayer):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner._conv_forward(self.act(x), self.quantized_weight(), self.inner.bias)


class QatLinear(_QatLayer):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.act(x), self.quantized_weight(), self.inner.bias)


def insert_fake_quant(
    model: nn.Module, acts: dict[str, ActFakeQuant] | None = None, weight_qmax: int = QMAX
) -> int:
    """Wrap every Conv2d (groups included) and Linear in place; returns how many.

    `acts` gives wrappers at these module paths their (already trained) input observers;
    weight_qmax 63 trains 7-bit weights (reduce_range, for CPUs without VNNI).
    """
    return _wrap(model, "", acts or {}, weight_qmax)


def _wrap(model: nn.Module, prefix: str, acts: dict[str, ActFakeQuant], qmax: int) -> int:
    count = 0
    for name, child in list(model.named_children()):
        path = f"{prefix}{name}"
        if isinstance(child, nn.Conv2d) and child.padding_mode == "zeros":
            setattr(model, name, QatConv2d(child, acts.get(path), qmax))
            count += 1
        elif isinstance(child, nn.Linear):
            setattr(model, name, QatLinear(child, acts.get(path), qmax))
            count += 1
        elif not isinstance(child, _QatLayer):
            count += _wrap(child, f"{path}.", acts, qmax)
    return count


def remove_fake_quant(model: nn.Module) -> dict[str, ActFakeQuant]:
    """Put the plain layers back; returns each wrapper's input observer by module path."""
    acts: dict[str, ActFakeQuant] = {}
    for path, module in list(model.named_modules()):
        if isinstance(module, _QatLayer):
            parent_path, _, name = path.rpartition(".")
            parent = model.get_submodule(parent_path) if parent_path else model
            setattr(parent, name, module.inner)
            acts[path] = module.act
    return acts


def calibrate_ranges(model: nn.Module, data: Any, batches: int = 8) -> None:
    """Seed the activation ranges from real data before training moves them.

    Only the observers run in training mode, so BatchNorm statistics stay untouched.
    """
    from cnnopt.data.loader import iterate_batches

    model.eval()
    observers = [m for m in model.modules() if isinstance(m, ActFakeQuant)]
    for observer in observers:
        observer.train()
    with torch.no_grad():
        for index, (images, _labels) in enumerate(iterate_batches(data, 64)):
            if index >= batches:
                break
            model(images)
    model.eval()


def fold_batchnorm(model: nn.Module, ctx: Any) -> tuple[nn.Module, str | None]:
    """Fold BN into the convolutions of a trained QAT model, keeping the learned ranges.

    BN stays during fine-tuning (a folded net without BN's normalization diverged at the same
    learning rate) and is folded afterwards. That is lossless for the int8 weights: folding
    scales each output channel by one factor, and per-channel symmetric quantization is
    invariant to that (the channel's scale moves with it, the rounded integers stay).
    """
    qmax = next((m.weight_qmax for m in model.modules() if isinstance(m, _QatLayer)), QMAX)
    acts = remove_fake_quant(model)
    note = None
    try:
        from cnnopt.transforms.base import apply
        from cnnopt.transforms.fuse import FuseConfig

        model = apply(model.eval(), FuseConfig(), ctx)
    except Exception as exc:  # int8 still works with BN kept, one float op per conv more
        note = f"qat: BatchNorm not folded ({type(exc).__name__}: {exc})"
    insert_fake_quant(model, acts, qmax)
    return model.eval(), note
