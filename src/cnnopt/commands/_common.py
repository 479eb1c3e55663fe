"""Helpers every sub-command shares: JSON output, the rich console, numeric argument checks."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cnnopt.terminal import make_console

console = make_console()


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON on stdout (no table)"
    )


def print_json(obj: Any) -> None:
    from cnnopt.fileio import _json_default

    json.dump(obj, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def fraction(text: str) -> float:
    """A value in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a value in [0, 1), got {value}")
    return value


def input_shape(text: str) -> tuple[int, int, int]:
    """'3x32x32' -> (3, 32, 32)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"input shape must be CxHxW with positive sizes, e.g. 3x32x32; got {text!r}"
        )
    return dims  # type: ignore[return-value]


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    """--output for every command that runs a model (see cnnopt.outputs)."""
    parser.add_argument(
        "--output",
        metavar="INDEX|KEY",
        help="which output of a model that returns a tuple or dict is the prediction "
        "(default: the first tensor of a tuple, the 'logits' key of a dict)",
    )


def use_output_argument(model: Any, args: argparse.Namespace, input_shape: Any) -> Any:
    """Check --output (or the choice a checkpoint saved, or the default rule) with one
    forward pass on a random `input_shape` batch and record it on the model; a choice that
    does not exist is one clear line here, before any work."""
    import torch

    from cnnopt.outputs import validate_output

    example = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    validate_output(model, example, getattr(args, "output", None))
    return model


# After "<runtime> crashed with SIGSEGV while compiling the model": what the user can do.
RUNTIME_CRASH_HINT = (
    "the runtime failed in its native code, not on your input: try another --runtime or "
    "--precision, or report it to the runtime's authors"
)
DEFAULT_TIMEOUT_S = 900.0


def add_timeout_flag(parser: argparse.ArgumentParser) -> None:
    """The limit on the isolated child that builds and runs the model (a hung runtime)."""
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"stop a runtime that hangs after this long (default {DEFAULT_TIMEOUT_S:g})",
    )
