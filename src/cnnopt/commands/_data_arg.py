"""The data arguments every command that feeds a model shares: --dataset, --data-dir and
--image-size, and the one way they become a `TensorData`.

A model is built for one input size and a dataset has its own (digits 16x16, MNIST 28x28,
CIFAR 32x32). `--image-size` resizes the dataset (once, in `cnnopt.data.load_dataset`), so
any model meets any dataset; the split's `input_shape` follows and is what checkpoints record.
When it is not given, a checkpoint's recorded input size is used, so a model trained with
`--image-size 28` is evaluated, pruned and quantized at 28x28 without repeating the flag.
"""

from __future__ import annotations

import argparse
from typing import Any

from cnnopt.commands._model_arg import recorded_input_shape
from cnnopt.errors import CnnoptError

IMAGE_SIZE_HELP = (
    "resize the dataset's images to N x N or HxW (bilinear) for a model built for that size "
    "(default: the size a checkpoint recorded, else the dataset's own)"
)


def image_size_arg(text: str) -> tuple[int, int]:
    """'28' -> (28, 28), '20x24' -> (20, 24); refused by argparse (one line, exit 2) when
    it is not a size a dataset can be resized to."""
    from cnnopt.data.options import MAX_SIZE, MIN_SIZE

    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) not in (1, 2) or not all(MIN_SIZE <= d <= MAX_SIZE for d in dims):
        raise argparse.ArgumentTypeError(
            f"image size must be N or HxW with sizes from {MIN_SIZE} to {MAX_SIZE}, e.g. 28 "
            f"or 28x28; got {text!r}"
        )
    return (dims[0], dims[-1])


def add_data_arguments(
    parser: Any, help: str, *, required: bool = False, default: str | None = None
) -> None:
    """--dataset (with the command's own `help`), --data-dir and --image-size."""
    parser.add_argument("--dataset", required=required, default=default, help=help)
    parser.add_argument("--data-dir", default="data", help="where datasets live (default: data)")
    add_image_size_argument(parser)


def add_image_size_argument(parser: Any) -> None:
    parser.add_argument("--image-size", type=image_size_arg, metavar="N|HxW", help=IMAGE_SIZE_HELP)


def image_size_for(args: argparse.Namespace, model_spec: str | None = None) -> Any:
    """--image-size, else the (H, W) the checkpoint `model_spec` recorded, else None."""
    if getattr(args, "image_size", None) is not None:
        return args.image_size
    recorded = recorded_input_shape(model_spec)
    return recorded[1:] if recorded is not None else None


def load_split(
    args: argparse.Namespace, split: str, model_spec: str | None = None, dataset: str | None = None
) -> Any:
    """One split of --dataset (or `dataset`) at the size `image_size_for` picks."""
    from cnnopt.data import load_dataset

    return load_dataset(
        dataset or args.dataset,
        split=split,
        root=args.data_dir,
        image_size=image_size_for(args, model_spec),
    )


def check_image_size_has_data(args: argparse.Namespace) -> None:
    """--image-size resizes --dataset; alone it would be silently ignored."""
    if getattr(args, "image_size", None) is not None and not getattr(args, "dataset", None):
        raise CnnoptError(
            "--image-size resizes the images of --dataset, and no --dataset was given",
            "add --dataset NAME, or give the model's input shape with --input CxHxW",
        )
