"""Seeded random images of any shape: for speed tests and pipelines that need no real data.

Labels are random too, so accuracy on it is chance level by construction; do not train on it
expecting to learn anything.
"""

from __future__ import annotations

import functools
import os

import torch

from cnnopt.data import options as opt
from cnnopt.data.registry import Official, register_dataset
from cnnopt.errors import CnnoptError

MAX_BYTES = 4 * 2**30  # uint8 images held in RAM


@functools.lru_cache(maxsize=4)
def _generate(
    shape: tuple[int, int, int], num_classes: int, size: int, test_size: int, seed: int
) -> Official:
    gen = torch.Generator().manual_seed(seed)
    total = size + test_size
    images = torch.randint(0, 256, (total, *shape), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (total,), generator=gen)
    classes = [f"class_{i}" for i in range(num_classes)]
    return Official(
        images[:size], labels[:size], images[size:], labels[size:], classes, "generated"
    )


@register_dataset(
    "synthetic",
    "seeded random uint8 images (shape=(3,32,32), num_classes=10, size=1024 train samples)",
    options=("shape", "num_classes", "size", "test_size", "seed"),
)
def load_synthetic(
    root: str | os.PathLike | None = None,
    shape: object = (3, 32, 32),
    num_classes: object = 10,
    size: object = 1024,
    test_size: object = None,
    seed: object = 0,
) -> Official:
    """`size` is the number of (official) training samples; test has size // 4 by default."""
    if isinstance(shape, str):
        shape = tuple(int(p) for p in shape.lower().replace(",", "x").split("x") if p.isdigit())
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 3
        or not all(isinstance(d, int) and 1 <= d <= 4096 for d in shape)
    ):
        raise CnnoptError(
            f"dataset 'synthetic': shape must be (C, H, W) with positive sizes, got {shape!r}",
            "e.g. shape=(3, 32, 32) or shape='3x32x32'",
        )
    n_classes = opt.count(num_classes, "num_classes", "synthetic", minimum=2)
    n_train = opt.count(size, "size", "synthetic", minimum=2)
    n_test = opt.count(test_size, "test_size", "synthetic") if test_size is not None else None
    seed_value = opt.count(seed, "seed", "synthetic", minimum=0)
    n_test = n_test or max(1, n_train // 4)
    total_bytes = (n_train + n_test) * shape[0] * shape[1] * shape[2]
    if total_bytes > MAX_BYTES:
        raise CnnoptError(
            f"dataset 'synthetic': {n_train + n_test} images of {tuple(shape)} need "
            f"{total_bytes / 2**30:.1f} GiB",
            f"use fewer samples (size=) or smaller images; the limit is {MAX_BYTES // 2**30} GiB",
        )
    return _generate(
        (int(shape[0]), int(shape[1]), int(shape[2])),
        n_classes,
        n_train,
        n_test,
        seed_value,
    )
