"""The `--model` argument every measuring command shares: NAME | CHECKPOINT_DIR | file.py:factory
| weights.pt | weights.safetensors.

The loading itself is `cnnopt.serialize.load_model`, the function Python users call too, so
both accept exactly the same spellings, apply the same pickle policy (a file that needs full
pickle is refused unless the user passes `--trust-pickle`) and fail with the same messages;
this module only adds the flags and names them in those messages.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from torch import nn

from cnnopt.commands._common import add_output_argument
from cnnopt.errors import CnnoptError
from cnnopt.models.fit import shape_text
from cnnopt.serialize import CLI, PICKLE_SUFFIXES, load_model

MODEL_HELP = (
    "zoo name (see `cnnopt models`), a checkpoint directory, path/file.py:factory, or a "
    ".pt/.pth/.safetensors state dict (with --model-arch)"
)


def add_model_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--model", required=required, metavar="NAME|CKPT_DIR|FILE.py:FN|FILE.pt", help=MODEL_HELP
    )
    add_pickle_arguments(parser)
    add_output_argument(parser)


def add_pickle_arguments(parser: argparse.ArgumentParser) -> None:
    """--model-arch and --trust-pickle, for commands whose --model may be a .pt/.pth file."""
    parser.add_argument(
        "--model-arch",
        metavar="NAME|FILE.py:FN",
        help="architecture for a --model .pt/.pth file that holds only a state dict",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a --model .pt/.pth file that needs full pickle (can run code: only for "
        "files from a source you trust)",
    )


def model_label(spec: str) -> str:
    """A short name for tables and records: the checkpoint's folder name, not its full path."""
    path = Path(spec)
    if path.is_dir():
        return path.resolve().name
    if path.suffix in PICKLE_SUFFIXES:
        return path.stem
    return path.resolve().parent.name if path.suffix == ".safetensors" else spec


def load_model_from_args(
    args: argparse.Namespace, num_classes: int = 10, in_channels: int = 3
) -> nn.Module:
    """`load_model_arg` with the pickle options of `add_model_argument` taken from `args`."""
    return load_model_arg(
        args.model,
        num_classes,
        in_channels,
        trust_pickle=bool(getattr(args, "trust_pickle", False)),
        arch=getattr(args, "model_arch", None),
    )


def load_model_arg(
    spec: str,
    num_classes: int = 10,
    in_channels: int | None = 3,
    *,
    trust_pickle: bool = False,
    arch: str | None = None,
    width: float = 1.0,
) -> nn.Module:
    """Build the model `--model` names, in eval mode (see cnnopt.serialize.load_model).

    `in_channels=None` (no data to match) builds zoo models for RGB.
    """
    return load_model(
        spec,
        arch=arch,
        trust_pickle=trust_pickle,
        num_classes=num_classes,
        in_channels=in_channels or 3,
        width=width,
        spelling=CLI,
    )


def input_shape_for(
    given: tuple[int, int, int] | None, data: Any, spec: str | None
) -> tuple[int, int, int] | None:
    """The shape to build and run the model for: --input, the dataset's, or the one the
    checkpoint `spec` recorded; None when nothing says. --input must agree with the data."""
    if data is not None:
        if given is not None and tuple(given) != data.input_shape:
            hint = "drop --input (the dataset sets the shape)"
            if given[0] == data.input_shape[0]:
                hint += f", or resize the dataset with --image-size {given[1]}x{given[2]}"
            raise CnnoptError(
                f"--input {shape_text(given)} does not match dataset {data.name!r}, whose "
                f"images are {shape_text(data.input_shape)}",
                hint,
            )
        return data.input_shape
    if given is not None:
        return (given[0], given[1], given[2])
    return recorded_input_shape(spec)


def recorded_input_shape(spec: str | None) -> tuple[int, int, int] | None:
    """The input shape a checkpoint directory recorded (train, apply, prune and optimize's
    best/ write it), or None; for a file (weights, an exported model) its folder's."""
    import json

    if not spec:
        return None
    path = Path(spec)
    directory = path.parent if path.is_file() else path
    try:
        shape = json.loads((directory / "state.json").read_text()).get("input_shape")
    except (OSError, ValueError, AttributeError):
        return None  # no or unreadable state: loading the model reports that properly
    if (
        isinstance(shape, list)
        and len(shape) == 3
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        return (shape[0], shape[1], shape[2])
    return None
