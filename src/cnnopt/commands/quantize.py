"""`cnnopt quantize`: int8 PTQ / dynamic / QAT / mixed / bf16 for a runtime, measured there.

Accuracy before and after is measured through the chosen runtime on the validation split (the
float model in that runtime vs the quantized one), so the drop shown is what serving costs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import (
    add_json_flag,
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
from cnnopt.errors import CnnoptError
from cnnopt.models.fit import check_fits_data, check_runs_on

MODES = ("int8_static", "int8_dynamic", "qat", "mixed", "bf16", "fp16")
NEEDS_IMAGES = ("int8_static", "qat", "mixed")  # calibrate, fine-tune or score on images


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help=COMMANDS["quantize"],
        description="Quantize for ONNX Runtime or OpenVINO, calibrating on training images, "
        "and report validation accuracy float vs quantized (measured through the runtime) and "
        "file size before/after. Writes the artifact, weights and recipe to --out. "
        "int8_dynamic, bf16 and fp16 need no data: without --dataset give --input (no "
        "accuracy is measured then).",
    )
    add_model_argument(p)
    add_data_arguments(
        p,
        "calibration and validation data (see `cnnopt data list`); needed by int8_static, "
        "qat and mixed",
    )
    p.add_argument(
        "--input",
        type=input_shape,
        metavar="CxHxW",
        help="one image's shape when there is no --dataset, e.g. 1x28x28 (default: the "
        "shape a checkpoint recorded)",
    )
    p.add_argument("--mode", default="int8_static", choices=MODES, help="default: int8_static")
    p.add_argument(
        "--calibration",
        default="minmax",
        choices=("minmax", "percentile", "entropy"),
        help="activation range method (default: minmax)",
    )
    p.add_argument("--calib-size", type=positive_int, default=512, help="default: 512 images")
    p.add_argument(
        "--per-tensor",
        action="store_true",
        help="one weight scale per layer (default: per channel)",
    )
    p.add_argument(
        "--activation-type", default="uint8", choices=("uint8", "int8"), help="default: uint8"
    )
    p.add_argument(
        "--budget", type=positive_float, default=1.0, help="mixed: max accuracy drop in points"
    )
    p.add_argument("--qat-epochs", type=float, default=1.0, help="qat: fine-tuning epochs")
    p.add_argument(
        "--runtime", default="onnxruntime", choices=("onnxruntime", "openvino"), help="target"
    )
    p.add_argument("--threads", type=positive_int, help="runtime threads (default: torch's)")
    p.add_argument("--limit", type=positive_int, help="score at most N validation images")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnopt.fileio import ensure_dir, undo_on_failure

    config = _config(args)
    check_image_size_has_data(args)
    train, val = _load_data(args, config)
    shape = input_shape_for(args.input, train, args.model)
    if shape is None:
        raise CnnoptError("quantize needs the input shape", "pass --dataset NAME or --input CxHxW")
    model = load_model_from_args(args, train.num_classes if train else 10, shape[0])
    use_output_argument(model, args, shape)
    if train is not None:
        check_fits_data(model, train)
    else:
        check_runs_on(model, shape)
    # Created only once model and data fit, and taken back if quantizing or exporting fails.
    with undo_on_failure(args.out) as out:
        ensure_dir(out)
        payload = _quantize_and_export(model, config, train, val, shape, out, args)
    if args.json:
        print_json(payload)
    else:
        _print(payload)
    return 0


def _load_data(args: argparse.Namespace, config: Any) -> tuple[Any, Any]:
    """(train, val at most --limit images), or (None, None) for a mode that needs no images."""
    if not args.dataset:
        if config.mode in NEEDS_IMAGES:
            raise CnnoptError(
                f"--mode {config.mode} calibrates on training images, and no --dataset was given",
                "pass --dataset NAME (and --image-size if the model needs another size), or "
                "use --mode int8_dynamic",
            )
        return None, None
    return load_split(args, "train", args.model), load_split(args, "val", args.model).take(
        args.limit
    )


def _quantize_and_export(
    model: Any, config: Any, train: Any, val: Any, shape: Any, out: Path, args: Any
) -> dict[str, Any]:
    """Float and quantized accuracy through the runtime (with data), the artifact in `out`."""
    import torch

    from cnnopt.fileio import write_json
    from cnnopt.runtimes.export import export_artifacts

    if val is not None:
        example = val.normalize(val.images[:1])
    else:
        example = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    float_acc, float_size = _measure(model, example, val, args, progress=not args.json)
    quantized = _quantize(model, config, train, val, example, progress=not args.json)
    result = export_artifacts(quantized, out, example, recipe=[config], runtime=args.runtime)
    precision = config.mode if config.mode in ("bf16", "fp16") else "fp32"
    quant_acc = None
    if val is not None:
        quant_acc = _accuracy(out / result.files[0], example, val, args, precision, output=model)
    payload: dict[str, Any] = {
        "model": model_label(args.model),
        "dataset": args.dataset,
        "input_shape": list(shape),
        "runtime": args.runtime,
        "config": config.to_dict(),
        "float_accuracy": float_acc,
        "quantized_accuracy": quant_acc,
        "accuracy_drop_points": None if val is None else (float_acc - quant_acc) * 100,
        "float_size_bytes": float_size,
        "quantized_size_bytes": _artifact_size(out, result.files),
        "files": result.files,
        "parity": result.parity,
        "notes": quantized.cnnopt_quant.get("notes", []),
    }
    write_json(out / "quantize.json", payload)
    return payload


def _config(args: argparse.Namespace) -> Any:
    from cnnopt.transforms.quantize import QuantizeConfig

    config = QuantizeConfig(
        mode=args.mode,
        calibration=args.calibration,
        calib_size=args.calib_size,
        per_channel=not args.per_tensor,
        activation_type=args.activation_type,
        accuracy_budget=args.budget,
        qat_epochs=args.qat_epochs,
    )
    config.validate()
    if args.mode in ("bf16", "fp16") and args.runtime == "onnxruntime":
        raise CnnoptError(
            f"{args.mode} does not run on ONNX Runtime's CPU provider", "use --runtime openvino"
        )
    return config


def calibrated_int8(model: Any, train: Any, progress: bool = False) -> Any:
    """A copy of float `model` with int8 static PTQ calibrated on `train`, exactly as
    `cnnopt quantize --mode int8_static` makes it (used by `cnnopt bench --precision int8`)."""
    from cnnopt.transforms.quantize import QuantizeConfig

    config = QuantizeConfig(mode="int8_static")
    config.validate()
    example = train.normalize(train.images[:1])
    return _quantize(model, config, train, None, example, progress)


def _quantize(model: Any, config: Any, train: Any, val: Any, example: Any, progress: bool) -> Any:
    import copy

    from cnnopt.transforms import Context, apply

    ctx = Context(
        train_data=train,
        val_data=val,
        calib_data=train.take(config.calib_size) if train is not None else None,
        example_input=example,
        progress=progress,
    )
    quantized = apply(copy.deepcopy(model), config, ctx)
    quantized.cnnopt_quant["notes"] = list(ctx.notes)
    return quantized


def _measure(
    model: Any, example: Any, val: Any, args: Any, progress: bool
) -> tuple[float | None, int]:
    """Float accuracy through the runtime (None without data), and the float artifact's size."""
    from cnnopt.runtimes.export import export_artifacts

    with tempfile.TemporaryDirectory(prefix="cnnopt-float-") as tmp:
        if progress:
            console.print(f"measuring the float model on {args.runtime} ...")
        result = export_artifacts(model, tmp, example, runtime=args.runtime)
        accuracy = None
        if val is not None:
            accuracy = _accuracy(Path(tmp) / result.files[0], example, val, args, output=model)
        return accuracy, _artifact_size(Path(tmp), result.files)


def _accuracy(
    path: Path, example: Any, val: Any, args: Any, precision: str = "fp32", output: Any = None
) -> float:
    from cnnopt.evaluation import evaluate
    from cnnopt.outputs import output_spec
    from cnnopt.runtimes.base import build_predictor

    predictor = build_predictor(
        args.runtime, path, example, threads=args.threads, precision=precision,
        output=output_spec(output),
    )  # fmt: skip
    return float(evaluate(predictor, val, batch_size=256).accuracy)


def _artifact_size(directory: Path, files: list[str]) -> int:
    model_files = [f for f in files if f.startswith("model.")]
    return sum((Path(directory) / f).stat().st_size for f in model_files)


def _print(payload: dict[str, Any]) -> None:
    table = Table(title=f"{payload['model']} {payload['config']['mode']} on {payload['runtime']}")
    table.add_column("")
    table.add_column("float", justify="right")
    table.add_column("quantized", justify="right")
    if payload["float_accuracy"] is not None:
        table.add_row(
            "val accuracy",
            f"{payload['float_accuracy']:.2%}",
            f"{payload['quantized_accuracy']:.2%}",
        )
    table.add_row(
        "size",
        f"{payload['float_size_bytes'] / 1e6:.2f} MB",
        f"{payload['quantized_size_bytes'] / 1e6:.2f} MB",
    )
    out = Console()
    out.print(table)
    if payload["accuracy_drop_points"] is not None:
        out.print(f"accuracy drop: {payload['accuracy_drop_points']:.2f} points")
    else:
        out.print("accuracy: not measured (no --dataset)")
    for note in payload["notes"]:
        out.print(f"note: {note}")
    out.print(f"wrote {', '.join(payload['files'])}, quantize.json")
