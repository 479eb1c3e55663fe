"""`cnnopt bench`: latency, throughput, MACs, params, size, memory and op profile of a model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import (
    RUNTIME_CRASH_HINT,
    add_json_flag,
    add_timeout_flag,
    console,
    input_shape,
    positive_float,
    positive_int,
    print_json,
    use_output_argument,
)
from cnnopt.commands._data_arg import add_data_arguments, check_image_size_has_data, load_split
from cnnopt.commands._model_arg import (
    add_model_argument,
    input_shape_for,
    load_model_from_args,
    model_label,
)
from cnnopt.errors import CnnoptError, check
from cnnopt.fileio import check_output_location, write_json
from cnnopt.models.fit import check_fits_data


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
    """Fail before minutes of measuring, not after, when --out cannot be written; its folder
    is created only when the result is written, so a failed command leaves none."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise CnnoptError(f"--out {path} is a directory", "give a file name, e.g. --out bench.json")
    check_output_location(target.parent)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help=COMMANDS["bench"],
        description="Time a model on random input at each batch size (warm-up, then repeated "
        "runs for --max-seconds) and count its parameters, MACs and serialized size.",
    )
    add_model_argument(p)
    p.add_argument(
        "--input",
        type=input_shape,
        metavar="CxHxW",
        help="one image's shape, e.g. 3x32x32 (default: the --dataset's, or the shape a "
        "checkpoint recorded)",
    )
    add_data_arguments(
        p,
        "calibration data: with --precision int8 on onnxruntime/openvino a float model "
        "is quantized first (int8 static, as `cnnopt quantize` does)",
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
    from cnnopt.isolation import run_isolated

    check(args.warmup >= 0, f"--warmup must be >= 0, got {args.warmup}", "use e.g. --warmup 5")
    check_output_file(args.out)
    check_image_size_has_data(args)
    if Path(args.model).suffix.lower() in ARTIFACT_SUFFIXES:
        return _report(args, _bench_artifact(args), None)
    train = _calibration_data(args)
    shape = _required_shape(args, train)
    num_classes = train.num_classes if train is not None else args.num_classes
    model = load_model_from_args(args, num_classes, shape[0])
    use_output_argument(model, args, shape)
    if train is not None:
        check_fits_data(model, train)
    model, calibration = _int8_on_the_fly(model, args, train)
    result = run_isolated(  # a runtime that segfaults or hangs ends in one line, not a core
        benchmark,
        model,
        shape,
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
    return _report(args, result, calibration)


def _report(args: argparse.Namespace, result: Any, calibration: dict[str, Any] | None) -> int:
    from cnnopt.bench.table import bench_renderable, print_renderable

    payload = result.to_dict()
    if calibration:
        payload["quantized_on_the_fly"] = calibration
    if args.out:
        write_json(args.out, payload)
    if args.json:
        print_json(payload)
    else:
        print_renderable(bench_renderable(result))
    return 0


INT8_RUNTIMES = ("onnxruntime", "openvino")
# Files a runtime loads as they are: what `cnnopt export`, `quantize` and optimize's best/ hold.
ARTIFACT_SUFFIXES = (".onnx", ".xml")


def _required_shape(args: argparse.Namespace, train: Any) -> tuple[int, int, int]:
    shape = input_shape_for(args.input, train, args.model)
    if shape is None:
        raise CnnoptError(
            "bench needs the input shape", "pass --input CxHxW (e.g. --input 3x32x32) or --dataset"
        )
    return shape


def _bench_artifact(args: argparse.Namespace) -> Any:
    """Time an exported file (model.onnx, model.xml) in its runtime, exactly the bytes that
    get deployed: int8, QAT and mixed-precision graphs included, nothing re-quantized."""
    from cnnopt.isolation import run_isolated

    if not Path(args.model).is_file():
        raise CnnoptError(f"--model {args.model}: no such file", "check the path")
    if args.dataset:
        raise CnnoptError(
            f"--model {args.model} is an exported file: it is timed as it is, so --dataset "
            "(calibration data) has no use",
            "drop --dataset",
        )
    shape = _required_shape(args, None)
    return run_isolated(  # a runtime that segfaults or hangs ends in one line, not a core
        benchmark_file, args.model, shape, args.runtime, args.precision, args.threads,
        dict(batch_sizes=args.batch_sizes, warmup=args.warmup, min_runs=args.min_runs,
             max_seconds=args.max_seconds, measure_memory=not args.no_memory,
             name=model_label(args.model), progress=not args.json),
        what=f"the {args.runtime} runtime", hint=RUNTIME_CRASH_HINT, timeout_s=args.timeout,
        stage="benchmark",
    )  # fmt: skip


def benchmark_file(
    path: str, shape: tuple[int, int, int], runtime: str, precision: str,
    threads: int | None, options: dict[str, Any],
) -> Any:  # fmt: skip
    """`benchmark` of the predictor `runtime` builds from the file at `path` (in the child)."""
    import torch

    from cnnopt.bench import benchmark
    from cnnopt.runtimes.base import build_predictor

    example = torch.zeros(1, *shape)
    predictor = build_predictor(runtime, path, example, threads=threads, precision=precision)
    return benchmark(predictor, shape, threads=threads, profile_top=0, **options)


def _calibration_data(args: argparse.Namespace) -> Any:
    return load_split(args, "train", args.model) if args.dataset else None


def _int8_on_the_fly(
    model: Any, args: argparse.Namespace, train: Any
) -> tuple[Any, dict[str, Any] | None]:
    """A float model asked to run int8 on ONNX Runtime/OpenVINO: quantize it with the
    dataset's images (int8 static PTQ, as `cnnopt quantize` does), or say what is missing."""
    wants_int8 = args.precision == "int8" and args.runtime in INT8_RUNTIMES
    if not wants_int8 or getattr(model, "cnnopt_quant", None):
        return model, None  # float precision, or already quantized by cnnopt quantize
    if train is None:
        raise CnnoptError(
            f"precision 'int8' needs an int8 model, but {model_label(args.model)} is float",
            "add --dataset NAME to quantize it on the fly (int8 static, calibrated on its "
            "training images), or bench the output of `cnnopt quantize`",
        )
    from cnnopt.commands.quantize import calibrated_int8
    from cnnopt.transforms.quantize import QuantizeConfig

    images = min(QuantizeConfig().calib_size, len(train))
    if not args.json:
        console.print(
            f"quantizing {model_label(args.model)} to int8 on the fly (static, calibrated on "
            f"{images} {args.dataset} training images)",
            soft_wrap=True,
        )
    calibration = {"mode": "int8_static", "dataset": args.dataset, "images": images}
    from cnnopt.isolation import run_isolated

    quantized = run_isolated(  # calibration runs the runtime's native code too
        calibrated_int8, model, train, what="int8 calibration", hint=RUNTIME_CRASH_HINT,
        timeout_s=args.timeout, stage="quantize",
    )  # fmt: skip
    return quantized, calibration
