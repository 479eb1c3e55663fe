"""`cnnopt models [PATTERN]`: which architectures exist and what they cost at your input size."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import add_json_flag, console, input_shape, positive_int, print_json
from cnnopt.errors import CnnoptError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "models",
        help=COMMANDS["models"],
        description="List registered models with parameter count and forward MACs at an input "
        "size. Use a model name with --model in other commands, or bring your own as "
        "path/to/file.py:factory.",
    )
    parser.add_argument(
        "pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*' (default: all)"
    )
    parser.add_argument(
        "--input",
        type=input_shape,
        default=(3, 32, 32),
        metavar="CxHxW",
        help="input size used for the MAC count and input channels (default: 3x32x32)",
    )
    parser.add_argument(
        "--num-classes",
        type=positive_int,
        default=10,
        help="classifier outputs used for the parameter count (default: 10)",
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _human(value: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def collect(pattern: str, shape: tuple[int, int, int], num_classes: int) -> list[dict[str, Any]]:
    """One row per matching model; a model that cannot run at `shape` gets an error, not a crash."""
    from cnnopt.models import list_models
    from cnnopt.models.summary import describe_model

    names = list_models(pattern)
    if not names:
        raise CnnoptError(
            f"no model matches {pattern!r}", f"known models: {', '.join(list_models())}"
        )
    rows = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("counting MACs", total=len(names))
        for name in names:
            try:
                rows.append(describe_model(name, shape, num_classes))
            except CnnoptError as exc:
                rows.append({"name": name, "error": exc.one_line()})
            progress.advance(task)
    return rows


def run(args: argparse.Namespace) -> int:
    rows = collect(args.pattern, args.input, args.num_classes)
    if args.json:
        print_json(rows)
        return 0
    shape_text = "x".join(map(str, args.input))
    table = Table(title=f"cnnopt models at {shape_text}, {args.num_classes} classes")
    table.add_column("model", style="bold")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("description")
    for row in rows:
        if "error" in row:
            table.add_row(row["name"], "-", "-", f"[red]{row['error']}[/red]")
        else:
            table.add_row(
                row["name"], _human(row["params"]), _human(row["macs"]), row["description"]
            )
    Console().print(table)  # stdout: the table is the result; progress went to stderr
    return 0
