"""`cnnopt train`: train a model with the tuned recipe, checkpoint it, report val and test.

Options left unset fall back to `cnnopt.defaults.default_train_config(dataset)`, so the plain
`cnnopt train` is the measured fast recipe and every flag is an explicit override.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import (
    add_json_flag,
    add_output_argument,
    console,
    fraction,
    positive_float,
    positive_int,
    print_json,
    use_output_argument,
)
from cnnopt.commands._data_arg import add_data_arguments, image_size_for, load_split
from cnnopt.errors import CnnoptError
from cnnopt.fileio import ensure_dir, remove_stale_temps, write_json
from cnnopt.models.fit import check_fits_data

# CLI flag -> TrainConfig field, for flags that override the dataset's recipe when given.
_OVERRIDES = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "schedule": "schedule",
    "precision": "precision",
    "channels_last": "channels_last",
    "weight_decay": "weight_decay",
    "warmup_epochs": "warmup_epochs",
    "label_smoothing": "label_smoothing",
    "grad_clip": "grad_clip",
    "patience": "early_stop_patience",
    "time_limit": "time_limit_s",
    "seed": "seed",
    "device": "device",
}


def register(sub: argparse._SubParsersAction) -> None:
    from cnnopt.defaults import DEFAULT_DATASET, DEFAULT_MODEL

    p = sub.add_parser(
        "train",
        help=COMMANDS["train"],
        description="Train on the train split, pick the best epoch on val, report test once "
        "at the end. Unset options use the tuned recipe for the dataset.",
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"zoo name or file.py:factory "
                   f"(default: {DEFAULT_MODEL})")  # fmt: skip
    add_data_arguments(p, f"default: {DEFAULT_DATASET}", default=DEFAULT_DATASET)
    p.add_argument("--width", type=positive_float, default=1.0, help="channel multiplier")
    p.add_argument("--epochs", type=positive_float, help="fractions allowed, e.g. 0.5")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float, help="peak learning rate")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    p.add_argument("--schedule", choices=("constant", "step", "cosine", "onecycle"))
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--weight-decay", type=fraction)
    p.add_argument("--warmup-epochs", type=positive_float)
    p.add_argument("--label-smoothing", type=fraction)
    p.add_argument("--grad-clip", type=positive_float, help="max gradient norm")
    p.add_argument("--patience", type=positive_int, help="early stop after N epochs without gain")
    p.add_argument("--time-limit", type=positive_float, metavar="SECONDS",
                   help="stop cleanly (and checkpoint) after this much training time")  # fmt: skip
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument("--no-augment", action="store_true", help="train without crop/flip")
    p.add_argument("--trainval", action="store_true",
                   help="train on train+val (no validation; for final models)")  # fmt: skip
    p.add_argument("--limit", type=positive_int, help="train on a seeded subset of N images")
    p.add_argument("--threads", type=positive_int, help="intra-op threads (default: torch's)")
    p.add_argument(
        "--adv",
        choices=("fgsm_rs", "pgd"),
        help="adversarial training: fgsm_rs (fast, ~2x cost) or pgd (steps+1 x cost)",
    )
    p.add_argument("--adv-eps", type=float, help="adversarial radius in pixel units (default 0.1)")
    p.add_argument("--adv-steps", type=positive_int, help="PGD steps for --adv pgd (default 7)")
    p.add_argument("--out", help="checkpoint directory (default: runs/train/<model>-<dataset>)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--overwrite", action="store_true", help="replace a run saved in --out")
    add_output_argument(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cnnopt.defaults import default_train_config
    from cnnopt.models import resolve_model

    out = Path(args.out or f"runs/train/{Path(args.model).stem}-{args.dataset}")
    adv_options = _adversarial_options(args)  # a bad --adv-eps fails before any work
    _check_out(out, args.resume, args.overwrite)
    if args.seed is not None and args.seed < 0:
        raise CnnoptError(f"--seed must be >= 0, got {args.seed}", "e.g. --seed 0")
    overrides = {
        field: getattr(args, flag)
        for flag, field in _OVERRIDES.items()
        if getattr(args, flag) is not None
    }
    if "epochs" in overrides and float(overrides["epochs"]).is_integer():
        overrides["epochs"] = int(overrides["epochs"])
    config = default_train_config(
        args.dataset, **overrides, checkpoint_dir=str(out), progress=not args.json
    )
    if args.no_augment:
        config.augment = None
    if args.threads:
        torch.set_num_threads(args.threads)

    train_split = "trainval" if args.trainval else "train"
    # A resumed run keeps the image size it recorded; every split below uses the same one.
    args.image_size = image_size_for(args, str(out) if args.resume else None)
    train_data = load_split(args, train_split).take(args.limit, seed=config.seed)
    val_data = None if args.trainval else load_split(args, "val")
    torch.manual_seed(config.seed)  # the initial weights too, so --seed reproduces a run
    model = resolve_model(
        args.model,
        num_classes=train_data.num_classes,
        in_channels=train_data.input_shape[0],
        width=args.width,
    )
    use_output_argument(model, args, train_data.input_shape)
    check_fits_data(model, train_data)
    created = not out.exists()
    ensure_dir(out)  # only once model and data fit: a refusal leaves no folder
    if args.resume:
        remove_stale_temps(out)
    try:
        return _train_and_report(args, model, train_data, val_data, config, out, adv_options)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # failed before its first checkpoint: leave no empty --out behind
        raise


def _train_and_report(
    args: argparse.Namespace, model: Any, train_data: Any, val_data: Any, config: Any,
    out: Path, adv_options: dict[str, Any] | None,
) -> int:  # fmt: skip
    """Train (checkpointing into `out` as it goes), then test once and write metrics.json."""
    import torch

    from cnnopt.training import evaluate_accuracy, train

    adversarial = None
    if adv_options is not None:
        from cnnopt.robust import AdversarialTraining

        adversarial = AdversarialTraining(
            train_data.mean, train_data.std, **adv_options, seed=config.seed
        )
    started = time.perf_counter()
    result = train(
        model, (train_data, val_data), config, batch_transform=adversarial, resume=args.resume
    )
    train_seconds = time.perf_counter() - started

    test_data = load_split(args, "test")
    test_acc = evaluate_accuracy(result.model, test_data)
    test_acc_flip = evaluate_accuracy(result.model, test_data, flip=True)
    metrics = {
        "model": args.model,
        "model_spec": getattr(result.model, "cnnopt_spec", None),
        "dataset": args.dataset,
        "input_shape": list(train_data.input_shape),
        "train_split": "trainval" if args.trainval else "train",
        "train_images": len(train_data),
        "params": sum(p.numel() for p in result.model.parameters()),
        "val_acc": result.history[-1]["val_acc"] if result.history else None,
        "best_val_acc": result.best_val_acc,
        "best_epoch": result.best_epoch,
        "test_acc": test_acc,
        "test_acc_flip": test_acc_flip,
        "train_seconds": train_seconds,
        "stop_reason": result.stop_reason,
        "adversarial": adv_options,
        "threads": torch.get_num_threads(),
        "config": config.to_dict(),
        "history": result.history,
        "checkpoint": str(out),
    }
    write_json(out / "metrics.json", metrics)
    if args.json:
        print_json(metrics)
    else:
        _print_summary(metrics)
    return 0


def _adversarial_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """Validated AdversarialTraining options for --adv, or None; --adv-* alone is a mistake."""
    if args.adv is None:
        if args.adv_eps is not None or args.adv_steps is not None:
            raise CnnoptError("--adv-eps/--adv-steps have no effect without --adv", "add --adv pgd")
        return None
    from cnnopt.robust import AdversarialTraining

    options = {
        "method": args.adv,
        "eps": 0.1 if args.adv_eps is None else args.adv_eps,
        "steps": 7 if args.adv_steps is None else args.adv_steps,
    }
    if not 0 < options["eps"] <= 1:
        raise CnnoptError(
            f"--adv-eps must be in (0, 1] (pixel units), got {options['eps']}",
            "e.g. --adv-eps 0.1 (25.5/255)",
        )
    AdversarialTraining((0.0,), (1.0,), **options)  # validates; the real one needs the data
    return options


def _check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a wrong --out before any work (the folder is made once the model fits)."""
    if out.exists() and not out.is_dir():
        raise CnnoptError(f"--out {out} is a file", "give a directory, e.g. --out runs/my-model")
    has_run = (out / "state.json").is_file()
    if resume and not has_run:
        raise CnnoptError(f"nothing to resume in {out} (no state.json)", "drop --resume")
    if has_run and not (resume or overwrite):
        raise CnnoptError(
            f"{out} already holds a training run",
            "pass --resume to continue it, --overwrite to replace it, or another --out",
        )
    if has_run and overwrite:
        for name in ("state.json", "model.safetensors", "best.safetensors", "trainer.pt"):
            (out / name).unlink(missing_ok=True)


def _print_summary(metrics: dict) -> None:
    val = metrics["best_val_acc"]
    val_text = f"best val {val:.2%} (epoch {metrics['best_epoch']:g})  " if val else ""
    console.print(
        f"[bold]{metrics['model']}[/] on {metrics['dataset']}: {val_text}"
        f"test {metrics['test_acc']:.2%}  test+flip {metrics['test_acc_flip']:.2%}  "
        f"in {metrics['train_seconds']:.0f}s ({metrics['stop_reason']})\n"
        f"saved to {metrics['checkpoint']}"
    )
