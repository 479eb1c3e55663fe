"""Datasets as in-memory tensors: `load_dataset(name, split)` and friends.

Splits: "trainval" is the official training set, "train" and "val" a fixed seeded partition of
it (val picks checkpoints and search candidates), "test" the official test set (only reported).
Every split of a dataset carries the training split's normalization statistics.

    >>> train = load_dataset("digits", "train")
    >>> train.input_shape, train.num_classes
    ((1, 16, 16), 10)
"""

from __future__ import annotations

import os
from typing import Any

from cnnopt.data import cifar, digits, imagefolder, mnist, synthetic  # noqa: F401 - registers
from cnnopt.data import options as opt
from cnnopt.data.augment import Augment, default_augment
from cnnopt.data.base import (
    DEFAULT_VAL_FRACTION,
    SPLITS,
    TensorData,
    channel_stats,
    resize_images,
    split_train_val,
)
from cnnopt.data.loader import iterate_batches, num_batches
from cnnopt.data.registry import DATASETS, DatasetSpec, Official, register_dataset
from cnnopt.errors import CnnoptError

__all__ = [
    "SPLITS",
    "Augment",
    "DatasetSpec",
    "Official",
    "TensorData",
    "channel_stats",
    "dataset_info",
    "default_augment",
    "get_dataset_spec",
    "iterate_batches",
    "list_datasets",
    "load_dataset",
    "num_batches",
    "register_dataset",
    "resize_images",
    "split_train_val",
]

_STATS: dict[tuple, tuple[tuple[float, ...], tuple[float, ...]]] = {}
_RESIZED: dict[tuple, Official] = {}  # a few resized official sets, so splits share one resize
_RESIZED_KEEP = 2


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching an fnmatch pattern, e.g. list_datasets('*mnist')."""
    return DATASETS.names(pattern)


def get_dataset_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    image_size: int | str | tuple[int, int] | None = None,
    **options: Any,
) -> TensorData:
    """One split of a dataset, decoded once per process and file (later calls are cheap).

    `root` is a directory to look in first (the CLI's --data-dir); `options` are the dataset's
    own (e.g. digits: size=28; synthetic: shape=(1, 28, 28), size=512; imagefolder: size,
    channels, test_fraction). `val_fraction` sets how much of the official training set
    becomes "val"; keep the default so results stay comparable across runs.

    `image_size` (N, "HxW" or (H, W); the CLI's --image-size) gives every image that size, for
    a model built for another input than the dataset's own (a Linear sized for 28x28 on the
    16x16 digits): the whole set is resized once (bilinear), before the split, so every split
    and `input_shape` agree. Normalization statistics stay those of the training split.
    """
    spec = DATASETS.get(name)
    if split not in SPLITS:
        raise CnnoptError(f"unknown split {split!r}", f"use one of: {', '.join(SPLITS)}")
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        accepted = ", ".join(spec.options) if spec.options else "none"
        raise CnnoptError(
            f"dataset {spec.name!r} has no option {', '.join(map(repr, unknown))}",
            f"its options: {accepted}",
        )
    size = opt.image_size(image_size, spec.name, "image_size")
    options = _with_size_option(spec, options, size)
    official = spec.load(root, **options)
    if size is not None:
        official = _resized(spec.name, official, size, options)
    mean, std = spec.stats or _train_stats(spec.name, official, options)
    extra: dict[str, Any] = {"source": official.source, "split": split}
    if size is not None:  # how to load it again: commands cnnopt prints repeat the size
        extra["image_size"] = list(size)
    if split == "test":
        return TensorData(official.test_images, official.test_labels, list(official.classes),
                          mean, std, spec.name, extra)  # fmt: skip
    trainval = TensorData(official.train_images, official.train_labels, list(official.classes),
                          mean, std, spec.name, extra)  # fmt: skip
    if split == "trainval":
        return trainval
    train, val = split_train_val(trainval, val_fraction)
    chosen = train if split == "train" else val
    chosen.extra["split"] = split
    return chosen


def _with_size_option(
    spec: DatasetSpec, options: dict[str, Any], size: tuple[int, int] | None
) -> dict[str, Any]:
    """Hand `size` to a loader that decodes at any size itself (from the source pixels, not
    from an already resized tensor); refuse two different sizes for one dataset."""
    if size is None or spec.size_option is None:
        return options
    own = opt.image_size(options.get(spec.size_option), spec.name, spec.size_option)
    if own is not None and own != size:
        raise CnnoptError(
            f"dataset {spec.name!r}: image_size {size[0]}x{size[1]} and option "
            f"{spec.size_option}={own[0]}x{own[1]} disagree",
            "give the size once",
        )
    return {**options, spec.size_option: size}


def _resized(
    name: str, official: Official, size: tuple[int, int], options: dict[str, Any]
) -> Official:
    """`official` with every image resized to `size`, computed once for train, val and test."""
    if tuple(official.train_images.shape[-2:]) == size == tuple(official.test_images.shape[-2:]):
        return official
    key = (name, official.source, tuple(sorted(map(repr, options.items()))),
           tuple(official.train_images.shape), len(official.test_images), size)  # fmt: skip
    if key not in _RESIZED:
        while len(_RESIZED) >= _RESIZED_KEEP:
            _RESIZED.pop(next(iter(_RESIZED)))
        _RESIZED[key] = official._replace(
            train_images=resize_images(official.train_images, size),
            test_images=resize_images(official.test_images, size),
        )
    return _RESIZED[key]


def dataset_info(
    name: str,
    root: str | os.PathLike | None = None,
    image_size: int | str | tuple[int, int] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Everything `cnnopt data info` shows: split sizes, input shape, classes, statistics."""
    spec = DATASETS.get(name)
    options = {**options, "image_size": image_size}
    sizes = {split: len(load_dataset(name, split, root, **options)) for split in SPLITS}
    test = load_dataset(name, "test", root, **options)
    return {
        "name": spec.name,
        "summary": spec.summary,
        "source": test.extra["source"],
        "splits": sizes,
        "input_shape": list(test.input_shape),
        "num_classes": test.num_classes,
        "classes": test.classes,
        "mean": list(test.mean),
        "std": list(test.std),
        "stats": "published" if spec.stats else "computed on the training split",
        "options": list(spec.options),
        "default_augment": _augment_text(spec.name),
    }


def _augment_text(name: str) -> str:
    augment = default_augment(name)
    return "none" if augment is None else repr(augment)


def _train_stats(
    name: str, official: Official, options: dict[str, Any]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Statistics of the official training split (never val/test), computed once per data."""
    key = (name, official.source, tuple(sorted(map(repr, options.items()))),
           tuple(official.train_images.shape))  # fmt: skip
    if key not in _STATS:
        _STATS[key] = channel_stats(official.train_images)
    return _STATS[key]
