"""FGSM and PGD (L-infinity) on models that take *normalized* inputs.

Epsilon is given in pixel units (images scaled to 0..1, e.g. eps=0.1 is 25.5/255), because that
is how robustness is compared across papers and datasets. Our models see (x - mean) / std, so
the attack works in normalized space with a per-channel step of eps / std and clamps to the
normalized images of 0 and 1. Pass the dataset's mean and std.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.outputs import select_output

Logits = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AttackConfig:
    kind: str = "pgd"  # "fgsm" or "pgd"
    eps: float = 0.1  # L-inf radius in pixel units (0..1 images)
    steps: int = 10  # PGD iterations; FGSM is one step
    step_size: float | None = None  # None: 2.5 * eps / steps (Madry et al.), FGSM uses eps
    random_start: bool = True  # PGD starts from a uniform point in the ball

    def validate(self) -> None:
        if self.kind not in ("fgsm", "pgd"):
            raise CnnoptError(f"unknown attack {self.kind!r}", "use 'fgsm' or 'pgd'")
        if not 0 < self.eps <= 1:
            raise CnnoptError(
                f"eps must be in (0, 1] (pixel units), got {self.eps}", "try --eps 0.1"
            )
        if self.steps < 1:
            raise CnnoptError(f"steps must be >= 1, got {self.steps}", "try --steps 10")
        if self.step_size is not None and self.step_size <= 0:
            raise CnnoptError(f"step size must be > 0, got {self.step_size}", "omit it")

    @property
    def alpha(self) -> float:
        if self.kind == "fgsm":
            return self.eps
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps


class _Box:
    """Per-channel bounds of the normalized image space and eps expressed in it."""

    def __init__(self, x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != x.shape[1] or len(std) != x.shape[1]:
            raise CnnoptError(
                f"attack got {len(mean)} channel statistics for inputs with {x.shape[1]} channels",
                "pass the mean/std of the dataset the model was trained on",
            )
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape)
        self.std = torch.tensor(std, dtype=x.dtype, device=x.device).view(shape)
        self.low = (0 - self.mean) / self.std
        self.high = (1 - self.mean) / self.std

    def scale(self, pixels: float) -> torch.Tensor:
        return pixels / self.std

    def project(self, x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        x_adv = torch.max(torch.min(x_adv, x + eps), x - eps)
        return torch.max(torch.min(x_adv, self.high), self.low)


def _input_gradient(model: Logits, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(select_output(model(x), model).float(), y)
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def attack(
    model: Logits,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    mean: Sequence[float],
    std: Sequence[float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Adversarial examples for a batch of normalized inputs (white-box: needs gradients)."""
    config.validate()
    box = _Box(x, mean, std)
    eps = box.scale(config.eps)
    alpha = box.scale(config.alpha)
    x = x.detach()
    start = x
    if config.kind == "pgd" and config.random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        start = box.project(x + (2 * noise - 1) * eps, x, eps)
    x_adv = start
    for _ in range(1 if config.kind == "fgsm" else config.steps):
        grad = _input_gradient(model, x_adv, y)
        x_adv = box.project(x_adv + alpha * grad.sign(), x, eps).detach()
    return x_adv


def fgsm(model: Logits, x, y, eps: float, mean, std) -> torch.Tensor:
    return attack(model, x, y, AttackConfig("fgsm", eps), mean, std)


def pgd(
    model: Logits,
    x,
    y,
    eps: float,
    mean,
    std,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    config = AttackConfig("pgd", eps, steps, step_size, random_start)
    return attack(model, x, y, config, mean, std, generator)


def frozen_eval(model: nn.Module) -> _EvalMode:
    return _EvalMode(model)


class _EvalMode:
    """Attack a model in eval mode (BN running stats, no dropout) and restore its mode."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.was_training = model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)
