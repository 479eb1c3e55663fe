"""`cnnopt kernels`: what each conv algorithm costs on paper and on this machine.

Prints, per layer of a layer set, the formula costs (MACs, parameter and activation memory)
beside the measured time and GFLOP/s of the naive loops, im2col, Winograd, FFT and PyTorch,
and saves a JSON file and a plot of time against input size.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import add_json_flag, console, positive_int, print_json
from cnnopt.errors import CnnoptError
from cnnopt.fileio import check_output_location, ensure_dir, undo_on_failure, write_json

ALGORITHM_COLUMNS = ("naive", "im2col", "winograd", "winograd4", "fft", "torch")


def register(sub: argparse._SubParsersAction) -> None:
    from cnnopt.kernels.complexity import LAYER_SETS

    parser = sub.add_parser(
        "kernels",
        help=COMMANDS["kernels"],
        description="Complexity (MACs, memory) and measured time of each NumPy convolution "
        "algorithm on the conv layers of a network, against PyTorch and the machine's "
        "matrix-multiply peak. Naive-loop times are measured on a shrunken layer and scaled by "
        "MACs.",
    )
    parser.add_argument(
        "--layer-set",
        default="resnet18",
        choices=sorted(LAYER_SETS),
        help="which layers to time (default: resnet18, the 3x3 convs of a 32x32-input ResNet-18)",
    )
    parser.add_argument("--batch", type=_int_list, default=[1, 32], help="e.g. 1,32 (default)")
    parser.add_argument(
        "--threads", type=_thread_list, default=[1, "all"], help="e.g. 1,all (default)"
    )
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed runs (best kept)")
    parser.add_argument("--no-naive", action="store_true", help="skip the slow naive loops")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/kernels"), help="where the JSON and PNG go"
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,32; got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 1,32; got {text!r}")
    return values


def _thread_list(text: str) -> list[str | int]:
    values: list[str | int] = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        if part == "all":
            values.append("all")
        elif part.isdigit() and int(part) > 0:
            values.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"threads must be numbers or 'all'; got {text!r}")
    return values or [1]


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.2f}"


def _table(result: dict[str, Any]) -> Table:
    table = Table(title=f"conv algorithms on {result['layer_set']} (ms, best of runs)")
    for name in ("layer", "batch", "thr", "MACs", "params KB", "act KB"):
        table.add_column(name, justify="left" if name == "layer" else "right")
    for name in ALGORITHM_COLUMNS:
        table.add_column(name, justify="right")
    table.add_column("best GFLOP/s", justify="right")
    for row in result["rows"]:
        ms = row["ms"]
        numpy_algs = {k: v for k, v in row["gflops"].items() if k != "torch"}
        best = max(numpy_algs, key=numpy_algs.__getitem__)
        naive = ms.get("naive")
        table.add_row(
            row["layer"],
            str(row["batch"]),
            str(row["threads"]),
            f"{row['macs'] / 1e6:.2f}M",
            f"{row['param_bytes'] / 1024:.0f}",
            f"{row['activation_bytes'] / 1024:.0f}",
            *(
                (f"~{_ms(naive)}" if name == "naive" and row.get("naive_extrapolated") else "")
                or _ms(ms.get(name))
                for name in ALGORITHM_COLUMNS
            ),
            f"{numpy_algs[best]:.0f} ({best})",
        )
    peaks = ", ".join(f"{t} thr: {g:.0f}" for t, g in result["matmul_peak_gflops"].items())
    table.caption = f"NumPy float32 matmul peak GFLOP/s: {peaks}. ~ = naive scaled by MACs."
    return table


def run(args: argparse.Namespace) -> int:
    from cnnopt.kernels.analysis import analyze
    from cnnopt.kernels.measure import plot_size_sweep

    check_output_location(args.out)  # created only when there is something to write
    result = analyze(
        args.layer_set,
        args.batch,
        args.threads,
        repeats=args.repeats,
        naive=not args.no_naive,
        console=console,
    )
    if not result["rows"]:
        raise CnnoptError("nothing was measured", "check --layer-set and --batch")
    with undo_on_failure(args.out) as out:  # a failed plot takes the JSON back with it
        json_path = write_json(ensure_dir(out) / "kernels.json", result)
        plot_path = out / "kernels_time_vs_size.png"
        plot_size_sweep(
            result["sweep"][str(min(result["threads"]))],
            str(plot_path),
            f"64->64 3x3 conv, batch 1, {min(result['threads'])} thread(s)",
            result["matmul_peak_gflops"][str(min(result["threads"]))],
        )
    if args.json:
        print_json(result)
    else:
        # The table is wide; a pipe or a narrow terminal would squash it into unreadable cells.
        wide = console if console.width >= 150 else Console(stderr=True, width=150)
        wide.print(_table(result))
        console.print(f"saved {json_path} and {plot_path}")
    return 0
