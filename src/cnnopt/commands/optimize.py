"""`cnnopt optimize`: search recipes, print the Pareto front, export the recommended model.

With no arguments it runs the demo: the default model on the default dataset, a baseline
trained first, and an 8-minute budget, so it ends within ten minutes on two cores. Where the
default dataset is missing it says so and runs on the bundled digits set. Every search
default comes from the classes `cnnopt.optimize` takes (Budget, SearchSpace, Target,
RobustnessSettings), so the command and the Python call run the same search.
"""

from __future__ import annotations

import argparse
from typing import Any

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import (
    add_json_flag,
    add_output_argument,
    positive_float,
    positive_int,
    print_json,
)
from cnnopt.commands._data_arg import add_data_arguments, image_size_for
from cnnopt.search import Budget, RobustnessSettings, SearchSpace, Target

# The demo's fallback when the default dataset is neither installed nor downloadable.
FALLBACK_DATASET = "digits"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0,0.3,0.5; got {text!r}") from None


def register(sub: Any) -> None:
    budget, space, target, robust = Budget(), SearchSpace(), Target(), RobustnessSettings()
    p = sub.add_parser(
        "optimize",
        help=COMMANDS["optimize"],
        description=__doc__,
    )
    g = p.add_argument_group("model and data")
    g.add_argument("--model", help="zoo name, file.py:factory, or a checkpoint (default: demo)")
    add_data_arguments(g, "dataset name (default: the demo dataset)")
    g.add_argument("--width", type=positive_float, default=1.0, help="zoo model width multiplier")
    g.add_argument("--train-subset", type=positive_int, help="use only N training images (quick)")
    g = p.add_argument_group("target")
    g.add_argument(
        "--runtime",
        type=_csv,
        default=("auto",),
        help="auto (all available) or a comma list: eager,onnxruntime,openvino",
    )
    g.add_argument(
        "--precision",
        type=_csv,
        default=space.precisions,
        help="comma list of fp32,bf16,int8,qat,mixed (default: " + ",".join(space.precisions) + ")",
    )
    g.add_argument(
        "--batch-size", type=positive_int, default=target.batch_size, help="serving batch size"
    )
    g.add_argument("--threads", type=positive_int, help="threads at serving time (default: all)")
    g.add_argument("--device", default=target.device, choices=("cpu",), help="device to serve on")
    g = p.add_argument_group("constraints (the recommendation is the fastest that meets them)")
    g.add_argument("--max-latency-ms", type=positive_float)
    g.add_argument("--max-accuracy-drop", type=float, help="in accuracy points vs the baseline")
    g.add_argument("--max-size-mb", type=positive_float, help="also adds size as an objective")
    g = p.add_argument_group("search")
    g.add_argument(
        "--trials",
        type=positive_int,
        default=budget.trials,
        help=f"most trials to run (default {budget.trials}; --time-budget usually ends it first)",
    )
    g.add_argument(
        "--time-budget",
        type=positive_float,
        default=budget.time_budget_s,
        help="seconds for the whole run: baseline training, the search and the finishing "
        "stage; fine-tuning and attacks are cut short to keep it, and the closing line says "
        f"what was cut (default {budget.time_budget_s:.0f})",
    )
    g.add_argument("--prune-ratios", type=_floats, default=space.prune_ratios)
    g.add_argument(
        "--finetune-epochs",
        type=positive_float,
        help="epochs over the fine-tuning images per pruned/low-rank model and per QAT "
        "(default: about --finetune-images images in all)",
    )
    g.add_argument(
        "--finetune-images",
        type=positive_int,
        default=budget.finetune_images,
        help="fine-tune on a random subset of this many training images "
        f"(default {budget.finetune_images})",
    )
    g.add_argument(
        "--baseline-epochs",
        type=positive_float,
        help="default: the dataset's recipe, fewer when they would not fit 35%% of --time-budget",
    )
    g.add_argument("--sampler", choices=("tpe", "nsga2", "random"), default="tpe")
    g.add_argument(
        "--workers", type=positive_int, default=budget.workers, help="parallel worker processes"
    )
    g.add_argument(
        "--candidate-timeout",
        type=positive_float,
        default=budget.candidate_timeout_s,
        metavar="SECONDS",
        help="a candidate still running after this long (a hung runtime) is killed and "
        f"recorded as failed (default {budget.candidate_timeout_s:.0f})",
    )
    g.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="build and measure candidates in a child process, so a runtime that crashes "
        "or hangs fails one candidate, not the search (default: on)",
    )
    g.add_argument(
        "--storage",
        help="Optuna storage: sqlite/postgresql/mysql URL or journal.log "
        "(default: sqlite study.db in --out)",
    )
    g.add_argument("--resume", action="store_true", help="continue the search in --out")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("robustness of the Pareto front (FGSM and PGD, after the search)")
    g.add_argument(
        "--robustness",
        action=argparse.BooleanOptionalAction,
        default=robust.enabled,
        help="attack every front candidate: white-box for eager fp32, transfer from its float "
        "model for exported/int8 artifacts (default: on; seconds per candidate)",
    )
    g.add_argument(
        "--robust-eps",
        type=positive_float,
        default=robust.eps,
        help=f"L-inf radius in pixel units of 0..1 images (default {robust.eps:g})",
    )
    g.add_argument(
        "--robust-samples",
        type=positive_int,
        default=robust.samples,
        help=f"validation images attacked (default {robust.samples})",
    )
    p.add_argument(
        "--out", default="runs/optimize", help="output directory (default runs/optimize)"
    )
    p.add_argument("--no-progress", action="store_true", help="no live display")
    add_output_argument(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def _defaults() -> tuple[str, str]:
    try:
        from cnnopt import defaults

        return defaults.DEFAULT_MODEL, defaults.DEFAULT_DATASET
    except (ImportError, AttributeError):
        return "lenet5", "fashion-mnist"


def load_model(spec: str, data: Any, width: float) -> tuple[Any, str, bool]:
    """(model, name, needs_training). A checkpoint or weights file is trained already; a zoo
    name or file.py:factory is a fresh architecture, so the baseline is trained first."""
    from cnnopt.commands._model_arg import load_model_arg, model_label
    from cnnopt.serialize import source_kind

    model = load_model_arg(spec, data.num_classes, data.input_shape[0], width=width)
    fresh = source_kind(spec) in ("zoo", "file")
    return model, model_label(spec).split(":")[-1] if fresh else model_label(spec), fresh


def run(args: argparse.Namespace) -> int:
    from cnnopt.commands._common import console
    from cnnopt.search import Constraints
    from cnnopt.search import optimize as run_optimize

    constraints = Constraints(args.max_latency_ms, args.max_accuracy_drop, args.max_size_mb)
    constraints.validate()  # before minutes of data loading and training
    robustness = RobustnessSettings(
        enabled=args.robustness, eps=args.robust_eps, samples=args.robust_samples
    )
    robustness.validate()
    from cnnopt.data import load_dataset
    from cnnopt.errors import CnnoptError

    default_model, default_dataset = _defaults()
    dataset = args.dataset or default_dataset
    size = image_size_for(args, args.model)  # a checkpoint's recorded size, unless given
    try:
        train = load_dataset(dataset, "train", args.data_dir, image_size=size)
    except CnnoptError as exc:
        if args.dataset is not None or dataset == FALLBACK_DATASET:
            raise
        # The demo must run on any machine: a missing default dataset is not worth failing for.
        console.print(
            f"{exc.message.split(' (')[0]}: the demo runs on the bundled {FALLBACK_DATASET} "
            "set instead (for Fashion-MNIST: apt install dataset-fashion-mnist)"
        )
        dataset = FALLBACK_DATASET
        train = load_dataset(dataset, "train", args.data_dir, image_size=size)
    val = load_dataset(dataset, "val", args.data_dir, image_size=size)
    test = load_dataset(dataset, "test", args.data_dir, image_size=size)
    if args.train_subset:
        train = train.take(args.train_subset, seed=args.seed)
    model, name, needs_training = load_model(args.model or default_model, train, args.width)
    # auto: SearchSpace's runtimes, those that are installed (torch.compile's first call costs
    # seconds, so it is only searched when asked for by name)
    auto = "auto" in args.runtime
    space = SearchSpace(
        prune_ratios=args.prune_ratios,
        precisions=args.precision,
        runtimes=SearchSpace().runtimes if auto else args.runtime,
    )
    result = run_optimize(
        model,
        train,
        val,
        test_data=test,
        constraints=constraints,
        budget=Budget(
            trials=args.trials,
            time_budget_s=args.time_budget,
            finetune_epochs=args.finetune_epochs,
            finetune_images=args.finetune_images,
            baseline_epochs=args.baseline_epochs,
            workers=args.workers,
            candidate_timeout_s=args.candidate_timeout,
        ),
        target=Target(batch_size=args.batch_size, threads=args.threads, device=args.device),
        space=space,
        robustness=robustness,
        out=args.out,
        resume=args.resume,
        storage=args.storage,
        sampler=args.sampler,
        train_baseline=needs_training,
        model_name=name,
        seed=args.seed,
        progress=not args.no_progress and not args.json,
        output=args.output,
        isolate=args.isolate,
    )
    if args.json:
        print_json(result.results)
    else:
        console.print(f"report: {result.out_dir / 'report.html'}")
        if args.no_progress:  # with progress on, the search already printed its closing lines
            print(result.summary)
            for line in (result.warning, result.budget_line):
                if line:
                    print(line)
    return 0 if result.recommended.get("index") is not None else 1
