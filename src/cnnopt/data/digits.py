"""scikit-learn's bundled 8x8 handwritten digits: 1,797 images that need no download.

This is the dataset that always works (CI, offline machines, first tries). It has no official
test split, so a fixed seeded 20% is held out as "test" and train/val come from the rest.

Default size is 16x16, not the native 8x8: LeNet-5 needs at least 10x10 inputs and nets with
three or more 2x2 poolings shrink 8x8 to nothing, while 16x16 still trains in seconds. Pass
size=8 for the raw images or size=28/32 to mimic MNIST/CIFAR-sized inputs.
"""

from __future__ import annotations

import functools
import os

import torch
import torch.nn.functional as F

from cnnopt.data import options as opt
from cnnopt.data.base import SPLIT_SEED
from cnnopt.data.registry import Official, register_dataset

TEST_FRACTION = 0.2
DEFAULT_SIZE = 16


@functools.lru_cache(maxsize=4)
def _decode(size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = torch.from_numpy(bunch.images).float().unsqueeze(1) * (255.0 / 16.0)  # N x 1 x 8 x 8
    if size != (8, 8):
        pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False)
    images = pixels.round().clamp(0, 255).to(torch.uint8)
    return images, torch.from_numpy(bunch.target).long()


@register_dataset(
    "digits",
    "scikit-learn's bundled handwritten digits (1,797; 8x8 upscaled to 16x16 by default), "
    "10 classes, seeded 20% test split",
    options=("size",),
    fetch_hint="it ships with scikit-learn: `pip install scikit-learn`",
    size_option="size",
)
def load_digits(root: str | os.PathLike | None = None, size: object = DEFAULT_SIZE) -> Official:
    """`root` is ignored: the data is bundled with scikit-learn."""
    images, labels = _decode(opt.image_size(size, "digits") or (8, 8))
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED + 1))
    n_test = round(len(labels) * TEST_FRACTION)
    test, train = perm[:n_test], perm[n_test:]
    classes = [str(d) for d in range(10)]
    return Official(images[train], labels[train], images[test], labels[test], classes, "bundled")
