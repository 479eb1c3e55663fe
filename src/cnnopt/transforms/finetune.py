"""Shared plumbing for transforms that change what a model computes.

Prune, low-rank, rewrite and distill all end the same way: a few epochs of training to win
back accuracy, with the uncompressed teacher's soft targets when one is known. That loop
lives here once, together with the two small model-surgery helpers the transforms share
(an example input for tracing, and replacing a submodule by its dotted path).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.outputs import select_output
from cnnopt.transforms.base import Context

# Spatial size used to trace a model when nothing tells us the real one: every zoo model runs
# at 32x32, and tracing only needs shapes to be consistent, not realistic.
DEFAULT_IMAGE_SIZE = 32
# How many training samples stand in for validation when the context has none: enough to pick
# the best epoch, small enough not to slow fine-tuning down.
FALLBACK_VAL_SAMPLES = 1000

ExtraLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def example_input(model: nn.Module, ctx: Context, batch: int = 1) -> torch.Tensor:
    """A random input of the right shape, from the context's data or the model itself."""
    if ctx.example_input is not None:
        return ctx.example_input
    for data in (ctx.calib_data, ctx.train_data, ctx.val_data):
        if data is not None:
            return torch.randn(batch, *data.input_shape, generator=_generator(ctx))
    spec = getattr(model, "cnnopt_spec", None) or getattr(model, "cnnopt_base_spec", None)
    if isinstance(spec, dict) and isinstance(spec.get("in_channels"), int):
        channels = spec["in_channels"]
    else:
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if first is None:
            raise CnnoptError(
                "cannot tell the input shape of this model",
                "give an example input in the Context (Context(example_input=...))",
            )
        channels = first.in_channels
    size = DEFAULT_IMAGE_SIZE
    return torch.randn(batch, channels, size, size, generator=_generator(ctx))


def _generator(ctx: Context) -> torch.Generator:
    return torch.Generator().manual_seed(ctx.seed)


def set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    """Replace the submodule at dotted `path` (e.g. 'layer1.0.conv1') with `module`."""
    parent_path, _, child = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, child, module)


def mark_restructured(model: nn.Module, transform: str) -> None:
    """Say that `create_model(spec)` no longer rebuilds this model.

    The zoo spec is moved to `cnnopt_base_spec` (the architecture it started from) and the
    transform is appended to `cnnopt_structure_changes`; code that rebuilds models from a
    spec then treats it as a foreign model instead of silently building the wrong shapes.
    """
    spec = getattr(model, "cnnopt_spec", None)
    if isinstance(spec, dict):
        model.cnnopt_base_spec = spec  # type: ignore[assignment]
        model.cnnopt_spec = None  # type: ignore[assignment]
    changes = list(getattr(model, "cnnopt_structure_changes", []) or [])
    changes.append(transform)
    model.cnnopt_structure_changes = changes  # type: ignore[assignment]


def distillation_loss(teacher: nn.Module, temperature: float, weight: float) -> ExtraLoss:
    """Hinton et al.'s soft-target term: weight * T^2 * KL(teacher || student) at temperature T.

    The trainer already adds the hard-label cross-entropy; T^2 keeps the soft gradients at
    the same scale as the hard ones whatever the temperature.
    """
    teacher.eval()  # its outputs are computed under no_grad: no gradients flow into it

    def extra_loss(
        model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor
    ) -> torch.Tensor:
        with torch.no_grad():
            target = select_output(teacher(inputs), teacher)
        return weight * kl_to_teacher(logits, target, temperature) * temperature**2

    return extra_loss


def kl_to_teacher(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Mean KL divergence between the softened teacher and student distributions."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)


def finetune(
    model: nn.Module,
    ctx: Context,
    epochs: float,
    *,
    transform: str,
    lr: float = 0.01,
    temperature: float = 4.0,
    soft_weight: float = 1.0,
    distill: bool = True,
) -> nn.Module:
    """Train `model` for `epochs` on ctx.train_data, distilling from ctx.teacher if given.

    A cosine schedule from a small lr suits a model that starts close to a good solution
    (it only has to adapt to the removed capacity), unlike training from scratch.
    """
    if epochs <= 0:
        return model
    train_data = ctx.require("train_data", transform)
    try:
        from cnnopt.training import TrainConfig, train
    except ImportError:
        raise CnnoptError(
            f"transform {transform!r} needs the training module to fine-tune",
            "set the fine-tuning epochs to 0, or update cnnopt",
        ) from None
    val_data = ctx.val_data
    if val_data is None:
        val_data = train_data.take(FALLBACK_VAL_SAMPLES, seed=ctx.seed)
    extra = None
    if distill and ctx.teacher is not None:
        teacher = ctx.teacher.to(ctx.device)
        extra = distillation_loss(teacher, temperature, soft_weight)
    config = TrainConfig(
        epochs=float(epochs),
        lr=lr,
        schedule="cosine",
        progress=ctx.progress,
        device=ctx.device,
        seed=ctx.seed,
        augment="auto" if _has_augment() else None,
        precision=ctx.finetune_precision,
        channels_last=ctx.finetune_channels_last,
    )
    result = train(model, (train_data, val_data), config, extra_loss=extra, deadline=ctx.deadline)
    note_cut(ctx, result, epochs, transform)
    # Back to NCHW weights: later steps (safetensors, ONNX export, pruning) expect contiguous ones.
    return result.model.to(memory_format=torch.contiguous_format)


def note_cut(ctx: Context, result: Any, epochs: float, what: str) -> None:
    """Say when ctx.deadline stopped a training early: the model is then used as it is, and
    its accuracy must not be read as that of a full fine-tuning."""
    if result.stop_reason != "deadline":
        return
    text = (
        f"{what} fine-tuning stopped at the time budget after {result.epochs_done:.2g} "
        f"of {epochs:g} epoch(s)"
    )
    ctx.cut.append(text)
    ctx.notes.append(text)


def _has_augment() -> bool:
    """The dataset's own augmentation when cnnopt.data provides one, else plain batches."""
    import importlib.util

    return importlib.util.find_spec("cnnopt.data.augment") is not None


def resolve_epochs(own: float | None, ctx: Context) -> float:
    """The config's own fine-tuning budget wins; else the context's; else none."""
    if own is not None:
        return float(own)
    return float(ctx.finetune_epochs or 0.0)
