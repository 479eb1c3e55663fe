"""Adversarial training as a trainer hook: each batch is replaced by its adversarial version.

Plug into `cnnopt.train(..., batch_transform=AdversarialTraining(...))`. Two recipes:
- "pgd": Madry et al. PGD-AT, strong and `steps` times more expensive per batch;
- "fgsm_rs": Wong et al. "Fast is better than free": one FGSM step of 1.25 eps from a random
  start, nearly the robustness of PGD-AT at the cost of about two forward/backward passes.
`mix` keeps a fraction of clean samples, trading some robustness for clean accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.robust.attacks import AttackConfig, attack


@dataclass
class AdversarialTraining:
    mean: Sequence[float]
    std: Sequence[float]
    method: str = "fgsm_rs"  # "fgsm_rs" (fast) or "pgd"
    eps: float = 0.1  # pixel units
    steps: int = 7  # PGD steps (ignored for fgsm_rs)
    mix: float = 0.0  # fraction of each batch left clean
    seed: int = 0
    _generator: torch.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method not in ("fgsm_rs", "pgd"):
            raise CnnoptError(
                f"unknown adversarial training method {self.method!r}", "use fgsm_rs or pgd"
            )
        if not 0 <= self.mix < 1:
            raise CnnoptError(f"mix must be in [0, 1), got {self.mix}", "e.g. 0.5")
        self.config.validate()
        self._generator = torch.Generator().manual_seed(self.seed)

    @property
    def config(self) -> AttackConfig:
        if self.method == "pgd":
            return AttackConfig("pgd", self.eps, steps=self.steps)
        return AttackConfig("pgd", self.eps, steps=1, step_size=1.25 * self.eps)

    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_adv = len(inputs) - int(len(inputs) * self.mix)
        if n_adv == 0:
            return inputs, labels
        adv = attack(
            model,
            inputs[:n_adv],
            labels[:n_adv],
            self.config,
            self.mean,
            self.std,
            self._generator,
        )
        return torch.cat([adv, inputs[n_adv:]]), labels
