"""`cnnopt bench`: latency, throughput, MACs, params, size, memory and op profile of a model."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnopt.commands._common import (
    RUNTIME_CRASH_HINT,
    add_json_flag,
    add_timeout_flag,
    input_shape,
    positive_float,
    positive_int,
    print_json,
    use_output_argument,
)
from cnnopt.commands._model_arg import add_model_argument, load_model_from_args, model_label
from cnnopt.errors import CnnoptError, check
from cnnopt.fileio import ensure_dir, write_json


def batch_size_list(text: str) -> list[int]:
    """'1,32' -> [1, 32]; duplicates dropped, order kept."""
    sizes: list[int] = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"batch sizes must be whole numbers separated by commas, e.g. 1,32; got {text!r}"
            ) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"batch sizes must be > 0, got {value}")
        if value not in sizes:
            sizes.append(value)
    return sizes


def check_output_file(path: str | None) -> None:
    """Fail before minutes of measuring, not after, when --out cannot be written."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise CnnoptError(f"--out {path} is a directory", "give a file name, e.g. --out bench.json")
    ensure_dir(target.parent if str(target.parent) else ".")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure latency, throughput, MACs, params, size and memory of a model",
        description="Time a model on random input at each batch size (warm-up, then repeated "
        "runs for --max-seconds) and count its parameters, MACs and serialized size.",
    )
    add_model_argument(p)
    p.add_argument(
        "--input",
        type=input_shape,
        required=True,
        metavar="CxHxW",
        help="one image's shape, e.g. 3x32x32",
    )
    p.add_argument(
        "--batch-sizes",
        type=batch_size_list,
        default=[1, 32],
        metavar="B,B",
        help="comma-separated batch sizes (default: 1,32)",
    )
    p.add_argument("--threads", type=positive_int, help="intra-op threads (default: torch's)")
    p.add_argument(
        "--runtime",
        default="eager",
        help="eager, compile, onnxruntime, openvino, ... (default: eager)",
    )
    p.add_argument("--precision", default="fp32", help="precision passed to the runtime")
    p.add_argument(
        "--num-classes",
        type=positive_int,
        default=10,
        help="classes of a zoo/file model (checkpoints know theirs; default: 10)",
    )
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        default=2.0,
        help="time budget of timed runs per batch size (default: 2)",
    )
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default: 5)")
    p.add_argument(
        "--min-runs",
        type=positive_int,
        default=10,
        help="timed runs even past the time budget (default: 10)",
    )
    p.add_argument(
        "--profile-top",
        type=int,
        default=10,
        help="ops to list from torch.profiler, 0 to skip (default: 10; eager only)",
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak memory measurement")
    p.add_argument("--out", metavar="FILE.json", help="also write the result as JSON here")
    add_timeout_flag(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnopt.bench import benchmark
    from cnnopt.bench.table import bench_renderable, print_renderable
    from cnnopt.isolation import run_isolated

    check(args.warmup >= 0, f"--warmup must be >= 0, got {args.warmup}", "use e.g. --warmup 5")
    check_output_file(args.out)
    model = load_model_from_args(args, args.num_classes, args.input[0])
    use_output_argument(model, args, args.input)
    result = run_isolated(  # a runtime that segfaults or hangs ends in one line, not a core
        benchmark,
        model,
        args.input,
        batch_sizes=args.batch_sizes,
        threads=args.threads,
        warmup=args.warmup,
        min_runs=args.min_runs,
        max_seconds=args.max_seconds,
        profile_top=args.profile_top,
        runtime=args.runtime,
        precision=args.precision,
        measure_memory=not args.no_memory,
        name=model_label(args.model),
        what=f"the {args.runtime} runtime",
        hint=RUNTIME_CRASH_HINT,
        timeout_s=args.timeout,
        progress=not args.json,
        stage="benchmark",
    )
    payload = result.to_dict()
    if args.out:
        write_json(args.out, payload)
    if args.json:
        print_json(payload)
    else:
        print_renderable(bench_renderable(result))
    return 0
