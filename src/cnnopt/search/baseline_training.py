"""Baseline training inside `cnnopt optimize`: the dataset's tuned recipe, sized to the budget.

A one-cycle schedule cut off by a time limit stops at a high learning rate, far from its best
weights. So instead of cutting the run short, the number of epochs is planned from a short
timed probe and the whole schedule (warm-up and annealing) runs within the time available.
The time limit stays as a safety net for a machine that slows down mid-run (a shared CPU can
swing 20x).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any

from torch import nn

PROBE_STEPS = 12  # enough batches to get past the first slow ones, a second or two on 2 cores
# Per-epoch extras the probe does not see (validation pass, progress bar), relative to the
# training steps themselves.
EPOCH_OVERHEAD = 1.15
SAFETY_FACTOR = 1.25  # hard time limit = planned seconds x this
MIN_EPOCHS = 0.25
# A large training set needs no quarter epoch for a useful baseline: a few thousand images
# give a model worth optimizing. On a slow or busy machine (53 images/s seen during the demo)
# a quarter of Fashion-MNIST's 55,000 images would not fit the demo's budget and the very
# first command a user runs refused to start; the floor is whichever of the two is smaller.
MIN_IMAGES = 2000


def min_epochs(n_images: int) -> float:
    """The least training the baseline may get: MIN_EPOCHS, or MIN_IMAGES of a large set."""
    return min(MIN_EPOCHS, MIN_IMAGES / max(n_images, 1))


MIN_SHARE_LEFT = 0.1  # of the baseline's seconds, left to training after a probe that overran


def recipe_for(train_data: Any) -> Any:
    """The dataset's tuned training recipe (cnnopt.defaults), or the trainer's defaults."""
    import cnnopt.training as train_mod

    try:
        from cnnopt.defaults import default_train_config

        return default_train_config(getattr(train_data, "name", "") or "")
    except ImportError:
        return train_mod.TrainConfig()


def affordable_epochs(default: float, seconds: float, images_per_s: float, n_images: int) -> float:
    """The recipe's epochs, or fewer when they would not fit `seconds`: in quarter epochs,
    or twentieths below one epoch, never under min_epochs(n_images)."""
    fits = seconds * images_per_s / max(n_images, 1) / EPOCH_OVERHEAD
    if fits >= default:
        return float(default)
    step = 0.25 if fits >= 1 else 0.05
    return max(min_epochs(n_images), math.floor(fits / step) * step)


def measure_images_per_s(model: nn.Module, train_data: Any, config: Any) -> float:
    """Training throughput of `config` on this machine now, from a few steps on a copy."""
    import cnnopt.training as train_mod

    steps_per_epoch = max(1, len(train_data) // config.batch_size)
    probe = dataclasses.replace(
        config,
        epochs=min(PROBE_STEPS, steps_per_epoch) / steps_per_epoch,
        progress=False,
        time_limit_s=None,
        checkpoint_dir=None,
        early_stop_patience=None,
    )
    result = train_mod.train(copy.deepcopy(model), (train_data, None), probe)
    rates = [row.get("images_per_s") for row in result.history if row.get("images_per_s")]
    return float(rates[-1]) if rates else 0.0


@dataclasses.dataclass(frozen=True)
class Probe:
    """Training speed measured once before the run, and what measuring it cost."""

    images_per_s: float
    seconds: float


def check_budget(model: nn.Module, train_data: Any, budget: Any) -> Probe | None:
    """Measure the training speed and refuse a time budget that cannot train the baseline.

    Called before the run writes anything: a budget whose baseline share cannot hold even
    min_epochs of training (after the probe itself) would spend itself on a useless baseline
    and end with no candidate, so the user is told up front what budget this machine needs.
    None when the budget plans no baseline (no time budget, or fixed --baseline-epochs).
    """
    from cnnopt.errors import CnnoptError

    seconds = budget.baseline_seconds()
    if budget.baseline_epochs is not None or not seconds or not budget.time_budget_s:
        return None
    started = time.perf_counter()
    rate = measure_images_per_s(model, train_data, recipe_for(train_data))
    probe = Probe(rate, time.perf_counter() - started)
    if rate <= 0:
        return probe
    n = len(train_data)
    if (seconds - probe.seconds) * rate / max(n, 1) / EPOCH_OVERHEAD >= min_epochs(n):
        return probe
    needed = probe.seconds + min_epochs(n) * n / rate * EPOCH_OVERHEAD
    fix = "train on fewer images (--train-subset) or pass a trained checkpoint (cnnopt train)"
    if not budget.baseline_time_limit_s or needed <= budget.baseline_time_limit_s:
        # The margin covers a shared CPU being slower on the day than during the probe.
        at_least = int(math.ceil(needed * SAFETY_FACTOR / budget.baseline_share / 10) * 10)
        fix = f"give at least --time-budget {at_least}, or {fix}"
    raise CnnoptError(
        f"--time-budget {budget.time_budget_s:g} is too small: training the baseline alone "
        f"needs about {needed:.0f} s here ({rate:.0f} images/s on {n} training images; "
        f"the baseline gets {budget.baseline_share:.0%} of the budget)",
        fix,
    )


def fit_baseline(
    model: nn.Module,
    train_data: Any,
    val_data: Any,
    budget: Any,
    seed: int,
    probe: Probe | None = None,
    deadline: float | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train `model` with its dataset's recipe within `budget.baseline_seconds()`.

    `probe` is the speed `check_budget` measured; the time it took counts against the
    baseline's share, so probing and training together stay within it. `deadline` (a
    time.time() instant, the end of the run's search window) stops it between batches too,
    whatever the plan said: a machine that slowed down must not eat the candidates' time.
    """
    import cnnopt.training as train_mod

    config = recipe_for(train_data)
    fields = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {"seed": seed, "progress": True}
    seconds = budget.baseline_seconds()
    plan: dict[str, Any] = {"seconds_allowed": seconds, "recipe_epochs": config.epochs}
    if budget.baseline_epochs is not None:
        changes["epochs"] = budget.baseline_epochs
        if seconds:
            changes["time_limit_s"] = seconds
    elif seconds:
        if probe is None:
            started = time.perf_counter()
            rate = measure_images_per_s(model, train_data, config)
            probe = Probe(rate, time.perf_counter() - started)
        seconds = max(seconds - probe.seconds, MIN_SHARE_LEFT * seconds)
        if probe.images_per_s > 0:
            changes["epochs"] = affordable_epochs(
                config.epochs, seconds, probe.images_per_s, len(train_data)
            )
            plan["probe_images_per_s"] = round(probe.images_per_s, 1)
            plan["probe_seconds"] = round(probe.seconds, 1)
        changes["time_limit_s"] = seconds * SAFETY_FACTOR
    config = dataclasses.replace(config, **{k: v for k, v in changes.items() if k in fields})
    started = time.time()
    result = train_mod.train(model, (train_data, val_data), config, deadline=deadline)
    return result.model, {
        "trained": True,
        "seconds": round(time.time() - started, 1),
        "best_val_acc": getattr(result, "best_val_acc", None),
        "stop_reason": getattr(result, "stop_reason", None),
        "epochs_done": round(result.epochs_done, 2),
        "plan": plan,
        "config": dataclasses.asdict(config),
    }
