"""Adversarial robustness: FGSM/PGD attacks, robustness evaluation, adversarial training."""

from cnnopt.robust.attacks import AttackConfig, attack, fgsm, pgd
from cnnopt.robust.evaluate import DEFAULT_ATTACKS, evaluate_robustness
from cnnopt.robust.training import AdversarialTraining

__all__ = [
    "DEFAULT_ATTACKS",
    "AdversarialTraining",
    "AttackConfig",
    "attack",
    "evaluate_robustness",
    "fgsm",
    "pgd",
]
