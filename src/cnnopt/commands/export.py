"""`cnnopt export`: write a model as ONNX, OpenVINO IR or safetensors, checked for parity."""

from __future__ import annotations

import argparse

from rich.console import Console

from cnnopt.commands import COMMANDS
from cnnopt.commands._common import (
    RUNTIME_CRASH_HINT,
    add_json_flag,
    add_timeout_flag,
    input_shape,
    positive_int,
    print_json,
    use_output_argument,
)
from cnnopt.commands._model_arg import (
    add_model_argument,
    input_shape_for,
    load_model_from_args,
    model_label,
)
from cnnopt.errors import CnnoptError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help=COMMANDS["export"],
        description="Write model.onnx (dynamic batch) or model.xml/.bin, plus "
        "weights.safetensors and recipe.yaml, then run the artifact in its runtime and compare "
        "it with the PyTorch model (max abs diff, top-1 agreement).",
    )
    add_model_argument(p)
    p.add_argument(
        "--input",
        type=input_shape,
        metavar="CxHxW",
        help="one image's shape, e.g. 1x28x28 (default: the shape a checkpoint recorded)",
    )
    p.add_argument(
        "--format",
        default="onnx",
        choices=("onnx", "openvino", "safetensors"),
        help="artifact to write (default: onnx)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--opset", type=positive_int, default=17, help="ONNX opset, >= 17 (default 17)")
    p.add_argument(
        "--num-classes", type=positive_int, default=10, help="for zoo models (default: 10)"
    )
    add_timeout_flag(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cnnopt.fileio import check_output_location, undo_on_failure
    from cnnopt.isolation import run_isolated
    from cnnopt.models.fit import check_runs_on
    from cnnopt.runtimes.export import export_artifacts

    shape = input_shape_for(args.input, None, args.model)
    if shape is None:
        raise CnnoptError(
            "export needs the input shape", "pass --input CxHxW (e.g. --input 1x28x28)"
        )
    check_output_location(args.out)
    model = load_model_from_args(args, args.num_classes, shape[0])
    use_output_argument(model, args, shape)
    check_runs_on(model, shape)
    example = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    with undo_on_failure(args.out):  # an export that fails half-way leaves no folder or file
        result = run_isolated(  # a runtime that segfaults or hangs ends in one line
            export_artifacts, model, args.out, example, runtime=args.format, opset=args.opset,
            what=f"the {args.format} export", hint=RUNTIME_CRASH_HINT, timeout_s=args.timeout,
            new_files_in=args.out, stage="export",
        )  # fmt: skip
    payload = {"model": model_label(args.model), "out": args.out, **result.__dict__}
    if args.json:
        print_json(payload)
        return 0
    Console().print(f"wrote {', '.join(result.files)} to {args.out}")
    if result.parity:
        parity = result.parity
        status = "[green]ok[/]" if parity["passed"] else "[red]FAILED[/]"
        Console().print(
            f"parity ({parity['precision']}, {parity['n']} inputs): max abs diff "
            f"{parity['max_abs_diff']:.2e}, top-1 agreement {parity['top1_agreement']:.1%} "
            f"{status}"
        )
    return 0
