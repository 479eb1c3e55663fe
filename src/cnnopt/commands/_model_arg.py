"""The `--model` argument every measuring command shares: NAME | CHECKPOINT_DIR | file.py:factory.

One resolver, so `eval`, `bench` and later commands accept exactly the same spellings and fail
with the same messages.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

from cnnopt.bench.forward import first_conv_in_channels
from cnnopt.errors import CnnoptError

MODEL_HELP = "zoo name (see `cnnopt models`), a checkpoint directory, or path/file.py:factory"


def add_model_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--model", required=required, metavar="NAME|CKPT_DIR|FILE.py:FN", help=MODEL_HELP
    )


def model_label(spec: str) -> str:
    """A short name for tables and records: the checkpoint's folder name, not its full path."""
    path = Path(spec)
    if path.is_dir():
        return path.resolve().name
    return path.resolve().parent.name if path.suffix == ".safetensors" else spec


def load_model_arg(spec: str, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """Build the model `--model` names, in eval mode.

    A checkpoint directory brings its own classes and channels, so `num_classes` and
    `in_channels` only shape zoo and file models; a checkpoint whose first convolution wants a
    different channel count than `in_channels` is refused here with the shape to use instead.
    """
    path = Path(spec)
    if path.is_dir() or (path.is_file() and path.suffix == ".safetensors"):
        from cnnopt.train.checkpoint import load_model

        model = load_model(path)
        expected = first_conv_in_channels(model)
        if expected is not None and expected != in_channels:
            raise CnnoptError(
                f"checkpoint {spec} was trained on {expected}-channel images but the input has "
                f"{in_channels} channel(s)",
                f"use {expected}-channel input (e.g. --input {expected}xHxW, or a dataset with "
                f"{expected} channel(s))",
            )
    elif path.is_file() and path.suffix != ".py":
        raise CnnoptError(
            f"--model {spec} is neither a checkpoint nor a Python model file",
            "pass a checkpoint directory (with state.json), its .safetensors file, or "
            "path/file.py:factory",
        )
    else:
        from cnnopt.models import resolve_model

        model = resolve_model(spec, num_classes=num_classes, in_channels=in_channels)
    return model.eval()
