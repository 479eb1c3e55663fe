"""Optimizers and per-step learning-rate schedules built from a TrainConfig.

Schedules are a pure function of the step (`lr_factor`) wrapped in LambdaLR, so the same
config always yields the same LR curve, it can be tested without training, and a resumed run
only needs the step counter to land on exactly the same value.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from cnnopt.training.config import TrainConfig

ONECYCLE_DEFAULT_WARMUP = 0.25  # fraction of the run one-cycle ramps up for
ONECYCLE_START = 0.04  # one-cycle starts at lr/25 (PyTorch OneCycleLR's div_factor)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay only on conv/linear weights: decaying BN scales and biases buys nothing
    and measurably hurts short runs, because it shrinks what normalization just rescaled."""
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decay if param.ndim > 1 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
        )
    betas = (config.momentum, 0.999)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, betas=betas)
    return torch.optim.AdamW(groups, lr=config.lr, betas=betas)


def lr_factor(
    step: int,
    total_steps: int,
    steps_per_epoch: int,
    schedule: str,
    warmup_epochs: float = 0.0,
    step_size: float = 30,
    gamma: float = 0.1,
) -> float:
    """Multiplier of the peak LR before optimizer step `step` (0-based).

    Warm-up is a linear ramp; after it: constant, step decay every `step_size` epochs, cosine
    to zero, or one-cycle (linear up from lr/25, then linear down to zero: for short budgets a
    linear decay to zero beats cosine and step decay).
    """
    total_steps = max(1, total_steps)
    warmup = round(warmup_epochs * steps_per_epoch)
    if schedule == "onecycle":
        if warmup == 0:
            warmup = max(1, round(ONECYCLE_DEFAULT_WARMUP * total_steps))
        if step < warmup:
            return ONECYCLE_START + (1 - ONECYCLE_START) * step / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** math.floor(step / max(1.0, step_size * steps_per_epoch))
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown schedule {schedule!r}")  # config.validate() rules this out


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-batch scheduler (call .step() after every optimizer step)."""
    factor = partial(
        lr_factor,
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        schedule=config.schedule,
        warmup_epochs=config.warmup_epochs,
        step_size=config.step_size,
        gamma=config.gamma,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
