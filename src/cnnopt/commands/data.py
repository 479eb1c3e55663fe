"""`cnnopt data list|fetch|info`: which datasets exist, get their files, and what they contain."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import add_json_flag, print_json
from cnnopt.commands._data_arg import add_image_size_argument


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "data",
        help=COMMANDS["data"],
        description="Datasets are looked for in --data-dir, $CNNOPT_DATA, ~/.cache/cnnopt and "
        "/usr/share/datasets, and downloaded (checksum-verified) only when missing.",
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="registered datasets with a one-line summary")
    add_json_flag(listing)
    listing.set_defaults(func=run_list)

    for action, text in (
        ("fetch", "locate or download a dataset; print where its files are and sample counts"),
        ("info", "splits, sizes, input shape, classes and normalization statistics"),
    ):
        p = actions.add_parser(action, help=text, description=text)
        p.add_argument("name", help="dataset name (see `cnnopt data list`)")
        p.add_argument("--data-dir", default=None, help="look here first; downloads go here too")
        p.add_argument(
            "--option",
            "-o",
            action="append",
            metavar="KEY=VALUE",
            help="dataset option, repeatable: e.g. -o size=28 (digits), -o shape=1x28x28 "
            "(synthetic), -o channels=1 (imagefolder)",
        )
        add_image_size_argument(p)
        add_json_flag(p)
        p.set_defaults(func=run_fetch if action == "fetch" else run_info)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The loader's own -o options, plus --image-size as every other command spells it."""
    from cnnopt.data.options import parse_assignments

    return {**parse_assignments(args.option), "image_size": args.image_size}


def run_list(args: argparse.Namespace) -> int:
    from cnnopt.data import get_dataset_spec, list_datasets

    rows = [{"name": n, "summary": get_dataset_spec(n).summary} for n in list_datasets()]
    if args.json:
        print_json(rows)
        return 0
    table = Table(title="cnnopt datasets")
    table.add_column("name", style="bold")
    table.add_column("summary")
    for row in rows:
        table.add_row(row["name"], row["summary"])
    Console().print(table)
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from cnnopt.data import load_dataset

    options = _options(args)
    trainval = load_dataset(args.name, "trainval", args.data_dir, **options)
    test = load_dataset(args.name, "test", args.data_dir, **options)
    result = {
        "name": trainval.name,
        "source": trainval.extra["source"],
        "train": len(trainval),
        "test": len(test),
        "input_shape": list(trainval.input_shape),
    }
    if args.json:
        print_json(result)
    else:
        print(
            f"{result['name']}: {result['train']} training + {result['test']} test images "
            f"({'x'.join(map(str, trainval.input_shape))}) from {result['source']}"
        )
    return 0


def run_info(args: argparse.Namespace) -> int:
    from cnnopt.data import dataset_info

    info = dataset_info(args.name, args.data_dir, **_options(args))
    if args.json:
        print_json(info)
        return 0
    table = Table(title=f"{info['name']}: {info['summary']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    splits = ", ".join(f"{k} {v}" for k, v in info["splits"].items())
    classes = info["classes"]
    shown = ", ".join(classes[:12]) + (
        f", ... ({len(classes)} in all)" if len(classes) > 12 else ""
    )
    for field, value in (
        ("source", info["source"]),
        ("splits", splits),
        ("input shape", "x".join(map(str, info["input_shape"]))),
        ("classes", f"{info['num_classes']}: {shown}"),
        ("mean", ", ".join(f"{v:.4f}" for v in info["mean"])),
        ("std", ", ".join(f"{v:.4f}" for v in info["std"])),
        ("statistics", info["stats"]),
        ("options", ", ".join(info["options"]) or "none"),
        ("default augmentation", info["default_augment"]),
    ):
        table.add_row(field, str(value))
    Console().print(table)
    return 0
