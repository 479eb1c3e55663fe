"""`cnnopt apply`: run a recipe on a model and save the result with before/after numbers.

The output directory is a checkpoint (model.safetensors + state.json with the layer
structure) plus recipe.yaml and metrics.json, so the optimized model reloads with
`cnnopt.recipe.load_applied(DIR)` and the report can show what the recipe cost and saved.
A recipe with a `target:` (as `cnnopt optimize` writes to best/recipe.yaml) is also lowered:
quantized on the same calibration images and exported for its runtime (model.onnx or
model.xml/.bin), and the artifact's accuracy is measured through that runtime.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import (
    add_json_flag,
    add_output_argument,
    console,
    input_shape,
    positive_int,
    print_json,
    use_output_argument,
)
from cnnopt.commands._data_arg import add_data_arguments, check_image_size_has_data, load_split
from cnnopt.commands._model_arg import input_shape_for
from cnnopt.errors import CnnoptError
from cnnopt.models.fit import check_fits_data, check_runs_on, first_conv_in_channels

CALIBRATION_SAMPLES = 512  # enough images to rank channels or calibrate ranges, fast to run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "apply",
        help=COMMANDS["apply"],
        description="Apply the steps of a recipe (fuse, prune, lowrank, sparsify, rewrite, "
        "distill, ...) in order, fine-tuning where the recipe says, and save weights, recipe "
        "and before/after metrics atomically.",
    )
    add_common_arguments(p)
    p.add_argument("--recipe", required=True, metavar="FILE.yaml", help="the recipe to apply")
    p.set_defaults(func=run)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments `apply` and `prune` share (model, data, output, budget)."""
    from cnnopt.commands._model_arg import add_pickle_arguments

    p.add_argument(
        "--model", help="zoo name, checkpoint directory, path/file.py:factory, or .pt state dict"
    )
    add_pickle_arguments(p)
    add_output_argument(p)
    p.add_argument("--checkpoint", metavar="DIR", help="start from this trained checkpoint")
    add_data_arguments(p, "data for fine-tuning, taylor importance and accuracy")
    p.add_argument(
        "--input",
        type=input_shape,
        metavar="CxHxW",
        help="one image's shape when there is no --dataset, e.g. 1x28x28 (default: the "
        "dataset's; else a checkpoint's recorded shape; else 3x32x32)",
    )
    p.add_argument("--limit", type=positive_int, help="use at most N training images")
    p.add_argument(
        "--finetune-epochs",
        type=float,
        help="fine-tuning budget for steps that set none (default: 0, no fine-tuning)",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--seed", type=int, help="default: the recipe's data seed, else 0")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    from cnnopt.recipe import Recipe

    return run_recipe(args, Recipe.load(args.recipe))


def run_recipe(args: argparse.Namespace, recipe: Any) -> int:
    """Load model and data, apply `recipe`, save everything, print a before/after summary."""
    from cnnopt.fileio import ensure_dir, undo_on_failure
    from cnnopt.lowering import draw_data

    if not args.model and not args.checkpoint:
        raise CnnoptError("no model given", "pass --model NAME or --checkpoint DIR")
    check_image_size_has_data(args)
    if args.finetune_epochs is not None and args.finetune_epochs < 0:
        raise CnnoptError(f"--finetune-epochs must be >= 0, got {args.finetune_epochs}", "e.g. 1")
    if recipe.target is not None and recipe.target.needs_images and not args.dataset:
        target = recipe.target
        raise CnnoptError(
            f"the recipe's target ({target.precision} on {target.runtime}) calibrates on "
            "training images, and no --dataset was given",
            f"pass --dataset {recipe.dataset or 'NAME'} (the data the recipe was made with)",
        )
    if args.seed is None:
        args.seed = recipe.data.seed if recipe.data is not None else 0
    train_split, val = _load_data(args)
    drawn = None
    if train_split is not None:  # the recipe's own draws of fine-tuning and calibration images
        drawn = draw_data(recipe, train_split, args.limit, args.seed, CALIBRATION_SAMPLES)
    shape = input_shape_for(args.input, train_split, args.checkpoint or args.model)
    num_classes = train_split.num_classes if train_split is not None else 10
    model = _load_model(args, num_classes, shape[0] if shape else None)
    guessed = shape is None
    if guessed:  # no data, no --input, no recorded shape: the model's spec, else RGB
        shape = (_spec_channels(model) or first_conv_in_channels(model) or 3, 32, 32)
    try:
        use_output_argument(model, args, shape)
        if train_split is not None:
            check_fits_data(model, train_split)
        else:
            check_runs_on(model, shape)
    except CnnoptError as exc:
        if not guessed:
            raise
        raise CnnoptError(
            f"{exc.message} (a guess: no --dataset, --input or recorded input shape)",
            "pass --input CxHxW, the shape the model was built for (e.g. --input 1x28x28)",
        ) from None
    # Created only once model and data fit, and taken back if the recipe fails on the way.
    with undo_on_failure(args.out) as out:
        ensure_dir(out)
        metrics = _apply_and_save(args, recipe, model, shape, drawn, val, out)
    if args.json:
        print_json(metrics)
    else:
        _print_summary(metrics, out)
    return 0


def _apply_and_save(
    args: argparse.Namespace, recipe: Any, model: nn.Module, shape: tuple[int, int, int],
    drawn: Any, val: Any, out: Path,
) -> dict[str, Any]:  # fmt: skip
    """Apply `recipe` (and its lowering target) to `model`; write the result into `out`."""
    from cnnopt.fileio import write_json
    from cnnopt.lowering import example_batch
    from cnnopt.recipe import apply_recipe, save_applied
    from cnnopt.transforms import Context

    example = example_batch(val, recipe.target.batch_size if recipe.target else 1, shape)
    ctx = Context(
        train_data=drawn.train if drawn is not None else None,
        val_data=val,
        calib_data=drawn.calib if drawn is not None else None,
        example_input=example[:1],
        device=args.device,
        progress=not args.json,
        seed=args.seed,
        finetune_epochs=args.finetune_epochs,
        notes=list(drawn.notes) if drawn is not None else [],
    )
    before = measure(model, shape, val)
    optimized = apply_recipe(model, recipe, ctx, progress=not args.json)
    after = measure(optimized, shape, val)
    metrics = {
        "model": args.checkpoint or args.model,
        "dataset": args.dataset,
        "recipe": recipe.to_dict(),
        "before": before,
        "after": after,
        "notes": ctx.notes,
    }
    metrics["input_shape"] = list(shape)
    if recipe.target is not None:
        metrics["artifact"] = lower_to_target(optimized, recipe, ctx, example, out, val)
    # state.json records the input shape, so later commands build and check for it.
    save_applied(
        out,
        optimized,
        recipe,
        {"metrics": metrics, "input_shape": list(shape)},
        example_input=example,
    )
    write_json(Path(out) / "metrics.json", metrics)
    return metrics


def _spec_channels(model: nn.Module) -> int | None:
    """The in_channels the model was built with (zoo or file factory), when it says."""
    spec = getattr(model, "cnnopt_spec", None) or getattr(model, "cnnopt_base_spec", None)
    channels = spec.get("in_channels") if isinstance(spec, dict) else None
    return channels if isinstance(channels, int) and channels > 0 else None


def _load_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """The whole train split (draw_data takes the recipe's subsets of it) and val."""
    if not args.dataset:
        return None, None
    model = args.checkpoint or args.model
    return load_split(args, "train", model), load_split(args, "val", model)


def lower_to_target(
    model: nn.Module, recipe: Any, ctx: Any, example: torch.Tensor, out: Path, val: Any
) -> dict[str, Any]:
    """The recipe's lowering: quantize, export into `out`, measure through the runtime."""
    from cnnopt.evaluation import evaluate
    from cnnopt.lowering import lower

    target = recipe.target
    try:
        lowered = lower(model, target, ctx, example, out, recipe)
    except CnnoptError as exc:
        what = f"{target.precision} on {target.runtime}"
        raise CnnoptError(f"recipe target ({what}): {exc.message}", exc.hint) from None
    accuracy = None
    if val is not None:
        accuracy = float(evaluate(lowered.predictor, val, batch_size=256).accuracy)
    parity = lowered.parity or {}
    return {
        "runtime": target.runtime,
        "precision": target.precision,
        "files": lowered.files,
        "accuracy": accuracy,
        "parity": {k: v for k, v in parity.items() if isinstance(v, int | float | str | bool)},
    }


def _load_model(args: argparse.Namespace, num_classes: int, in_channels: int | None) -> nn.Module:
    from cnnopt.commands._model_arg import load_model_arg

    return load_model_arg(
        args.checkpoint or args.model,
        num_classes=num_classes,
        in_channels=in_channels,
        trust_pickle=args.trust_pickle,
        arch=args.model_arch,
    )


def measure(model: nn.Module, shape: tuple[int, int, int], val: Any) -> dict[str, Any]:
    """Params, MACs and (with data) validation accuracy: the numbers a recipe trades."""
    from cnnopt.bench.counts import count_macs, count_params

    result: dict[str, Any] = {
        "params": count_params(model),
        "macs": count_macs(model, shape),
        "accuracy": None,
    }
    if val is not None:
        result["accuracy"] = accuracy(model, val)
    return result


@torch.no_grad()
def accuracy(model: nn.Module, data: Any, batch_size: int = 256) -> float:
    from cnnopt.data.loader import iterate_batches
    from cnnopt.outputs import select_output

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for images, labels in iterate_batches(data, batch_size, device=device):
        correct += int((select_output(model(images), model).argmax(1) == labels).sum())
    model.train(was_training)
    return correct / len(data)


def _print_summary(metrics: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{metrics['model']}: recipe applied")
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for key, fmt in (("params", "{:,}"), ("macs", "{:,}"), ("accuracy", "{:.2%}")):
        b, a = metrics["before"][key], metrics["after"][key]
        table.add_row(key, "-" if b is None else fmt.format(b), "-" if a is None else fmt.format(a))
    console.print(table)
    artifact = metrics.get("artifact")
    if artifact:
        acc = artifact["accuracy"]
        console.print(
            f"artifact: {', '.join(artifact['files'][:2])} ({artifact['precision']} on "
            f"{artifact['runtime']})" + (f", accuracy {acc:.2%}" if acc is not None else "")
        )
    for note in metrics["notes"]:
        console.print(f"note: {note}")
    console.print(f"saved to {out}")
