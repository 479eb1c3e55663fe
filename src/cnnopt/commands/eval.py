"""`cnnopt eval`: accuracy, top-5, per-class precision/recall/F1 and confusion of a model."""

from __future__ import annotations

import argparse

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import add_json_flag, positive_int, print_json, use_output_argument
from cnnopt.commands._data_arg import add_data_arguments, load_split
from cnnopt.commands._model_arg import add_model_argument, load_model_from_args, model_label
from cnnopt.commands.bench import check_output_file
from cnnopt.fileio import write_json
from cnnopt.models.fit import check_fits_data


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help=COMMANDS["eval"],
        description="Evaluate a model on a dataset split. Reported on the test split by "
        "default; choose models and settings on --split val.",
    )
    add_model_argument(p)
    add_data_arguments(p, "dataset name (see `cnnopt data list`)", required=True)
    p.add_argument(
        "--split",
        default="test",
        choices=("test", "val"),
        help="which split to score (default: test)",
    )
    p.add_argument("--batch-size", type=positive_int, default=256, help="default: 256")
    p.add_argument(
        "--limit", type=positive_int, help="score a seeded random subset of N images (quick checks)"
    )
    p.add_argument(
        "--tta-flip",
        action="store_true",
        help="average the logits of each image and its horizontal mirror",
    )
    p.add_argument("--out", metavar="FILE.json", help="also write the result as JSON here")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnopt.bench.table import eval_renderable, print_renderable
    from cnnopt.evaluation import evaluate

    check_output_file(args.out)
    data = load_split(args, args.split, args.model).take(args.limit)
    model = load_model_from_args(args, data.num_classes, data.input_shape[0])
    use_output_argument(model, args, data.input_shape)
    check_fits_data(model, data)
    result = evaluate(
        model, data, batch_size=args.batch_size, tta_flip=args.tta_flip, progress=not args.json
    )
    payload = {
        "model": model_label(args.model),
        "dataset": args.dataset,
        "split": args.split,
        "input_shape": list(data.input_shape),
        "tta_flip": args.tta_flip,
        **result.to_dict(),
    }
    if args.out:
        write_json(args.out, payload)
    if args.json:
        print_json(payload)
    else:
        title = f"{model_label(args.model)} on {args.dataset} {args.split}"
        print_renderable(eval_renderable(result, title=title))
    return 0
