"""Fashion-MNIST in a few CPU minutes: the default model and recipe, timed end to end.

Trains `cnnopt.defaults.DEFAULT_MODEL` with `default_train_config("fashion-mnist")` on the
full official training set (split "trainval": 60k images, so no validation split: nothing is
selected on test, the last epoch is reported) and scores the official test set plain and
with flip-TTA. Writes machine info, load average, config, per-epoch history and timings.

On a shared or slow machine the recipe's epoch count may not fit the budget; a short timing
of real training steps first picks the largest epoch count that fits (never more than the
recipe), so the one-cycle schedule still completes instead of being cut off. The calibration
time is included in `total_wall_s`.

    python benchmarks/train_speed.py --minutes 5 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import time
from pathlib import Path

import torch

from cnnopt.bench.machine import machine_info
from cnnopt.data import load_dataset
from cnnopt.data.loader import num_batches
from cnnopt.defaults import DEFAULT_DATASET, DEFAULT_MODEL, default_train_config
from cnnopt.fileio import write_json
from cnnopt.models import create_model
from cnnopt.training import TrainConfig, evaluate_accuracy, train

RESULTS = Path(__file__).parent / "results" / "train_speed.json"
EVAL_RESERVE = 0.06  # share of the budget kept free for per-epoch bookkeeping and jitter


def calibrate_epochs(model: torch.nn.Module, data, config: TrainConfig, budget_s: float) -> dict:
    """Time a few real optimizer steps on a copy of the model; return the epochs that fit."""
    probe = copy.deepcopy(model)
    probe_config = TrainConfig(**{**config.__dict__, "epochs": 1, "progress": False})
    steps, warmup = 30, 5
    subset = data.take(config.batch_size * (steps + warmup), seed=1)
    started = time.perf_counter()
    timed_from = None
    count = 0

    def clock(model, inputs, labels):
        nonlocal timed_from, count
        count += 1
        if count == warmup + 1:
            timed_from = time.perf_counter()
        return inputs, labels

    train(probe, (subset, None), probe_config, batch_transform=clock)
    step_s = (time.perf_counter() - timed_from) / max(1, count - warmup)
    epoch_s = step_s * num_batches(data, config.batch_size, drop_last=True)
    fit = math.floor(budget_s * (1 - EVAL_RESERVE) / epoch_s)
    return {
        "step_s": step_s,
        "estimated_epoch_s": epoch_s,
        "epochs_that_fit": fit,
        "calibration_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--epochs", type=float, help="override the recipe's epochs")
    parser.add_argument("--no-calibrate", action="store_true", help="always train the recipe")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    train_data = load_dataset(DEFAULT_DATASET, split="trainval", root=args.data_dir)
    test_data = load_dataset(DEFAULT_DATASET, split="test", root=args.data_dir)
    config = default_train_config(DEFAULT_DATASET, progress=True)
    if args.epochs:
        config.epochs = args.epochs
    torch.manual_seed(config.seed)
    model = create_model(
        DEFAULT_MODEL, num_classes=train_data.num_classes, in_channels=train_data.input_shape[0]
    )
    budget = args.minutes * 60
    calibration = None
    if not args.no_calibrate:
        calibration = calibrate_epochs(model, train_data, config, budget)
        budget -= calibration["calibration_s"]
        recipe_epochs = config.epochs
        config.epochs = max(1, min(recipe_epochs, calibration["epochs_that_fit"]))
        calibration["recipe_epochs"] = recipe_epochs
        print(f"calibration: {calibration}")
    config.time_limit_s = budget  # a hard stop in case the estimate was optimistic

    started = time.perf_counter()
    result = train(model, (train_data, None), config)
    train_s = time.perf_counter() - started
    test_acc = evaluate_accuracy(result.model, test_data)
    test_acc_flip = evaluate_accuracy(result.model, test_data, flip=True)
    load_after = os.getloadavg()
    payload = {
        "benchmark": "train_speed",
        "model": DEFAULT_MODEL,
        "dataset": DEFAULT_DATASET,
        "train_split": "trainval (the full official 60k training set; no validation)",
        "params": sum(p.numel() for p in model.parameters()),
        "test_acc": test_acc,
        "test_acc_flip": test_acc_flip,
        "train_wall_s": train_s,
        "total_wall_s": train_s + (calibration["calibration_s"] if calibration else 0.0),
        "budget_s": args.minutes * 60,
        "stop_reason": result.stop_reason,
        "epochs_trained": result.history[-1]["epoch"] if result.history else 0,
        "mean_images_per_s": sum(r["images_per_s"] for r in result.history) / len(result.history),
        "calibration": calibration,
        "threads": args.threads,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "machine": machine_info(),
        "torch": torch.__version__,
        "config": config.to_dict(),
        "history": result.history,
        "timestamp": time.time(),
    }
    write_json(args.out, payload)
    print(
        f"test {test_acc:.2%}  test+flip {test_acc_flip:.2%}  training {train_s:.0f}s "
        f"({payload['epochs_trained']:g} epochs, {payload['mean_images_per_s']:,.0f} img/s); "
        f"wrote {args.out}"
    )


if __name__ == "__main__":
    main()
