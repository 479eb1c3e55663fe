"""Clean vs adversarial accuracy of any candidate, white-box or by transfer.

A float torch model is attacked through its own gradients (white-box). An int8 or exported
artifact has no usable gradients, so adversarial examples are crafted on a float *source* model
(usually the float model it was compressed from) and then fed to the artifact: a transfer attack,
which is weaker, and the result says so.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from cnnopt.data.base import TensorData
from cnnopt.data.loader import iterate_batches, num_batches
from cnnopt.errors import CnnoptError
from cnnopt.outputs import select_output
from cnnopt.robust.attacks import AttackConfig, attack, frozen_eval

DEFAULT_ATTACKS = (AttackConfig("fgsm", 0.1), AttackConfig("pgd", 0.1, steps=10))


def evaluate_robustness(
    target: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    data: TensorData,
    attacks: Iterable[AttackConfig] = DEFAULT_ATTACKS,
    *,
    source: nn.Module | None = None,
    limit: int | None = 1000,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = False,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Accuracy on clean and attacked inputs; `limit` samples (seeded subset) keep it affordable.

    `deadline` (a time.time() instant, the end of a time budget) ends it between batches,
    after the first: the accuracies are then over fewer images, and "cut" says how many.
    Returns {"clean": acc, "<kind>": acc per attack, "mode": "white-box"|"transfer", ...}.
    """
    attacks = list(attacks)
    for config in attacks:
        config.validate()
    white_box = isinstance(target, nn.Module) and source is None
    crafter = target if white_box else source
    if crafter is None:
        raise CnnoptError(
            "this model has no gradients to attack (an exported or int8 artifact)",
            "pass the float model it came from as `source` for a transfer attack",
        )
    subset = data.take(limit, seed=seed)
    correct = {"clean": 0, **{c.kind: 0 for c in attacks}}
    generator = torch.Generator().manual_seed(seed)
    total = num_batches(subset, batch_size) * (1 + len(attacks))
    n = 0
    with frozen_eval(crafter), _maybe_eval(target), _progress(progress, total) as advance:
        for x, y in iterate_batches(subset, batch_size):
            if n and deadline is not None and time.time() >= deadline:
                break
            n += len(y)
            with torch.no_grad():
                correct["clean"] += int((_logits(target, x).argmax(1) == y).sum())
            advance()
            for config in attacks:
                x_adv = attack(crafter, x, y, config, data.mean, data.std, generator)
                with torch.no_grad():
                    correct[config.kind] += int((_logits(target, x_adv).argmax(1) == y).sum())
                advance()
    result = {
        **{k: v / max(n, 1) for k, v in correct.items()},
        "mode": "white-box" if white_box else "transfer",
        "samples": n,
        "attacks": [asdict(c) for c in attacks],
    }
    if n < len(subset):
        result["cut"] = f"stopped at the time budget after {n} of {len(subset)} images"
    return result


def _logits(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return select_output(model(x), model)


@contextlib.contextmanager
def _maybe_eval(model: object) -> Iterator[None]:
    if isinstance(model, nn.Module):
        with frozen_eval(model):
            yield
    else:
        yield


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar when asked, a no-op otherwise."""
    if not enabled:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("attacking", total=total)
        yield lambda: bar.advance(task)
