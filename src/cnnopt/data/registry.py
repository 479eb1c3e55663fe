"""The dataset registry: each source registers how to read its *official* train and test sets.

Splitting (train/val/trainval/test) and normalization statistics are handled once, in
`cnnopt.data.load_dataset`, so every source gets the same deterministic hold-out and the rule
"statistics come from the training split" cannot be forgotten by a new loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from cnnopt.registry import Registry


class Official(NamedTuple):
    """The decoded official splits of one dataset, before any hold-out or normalization."""

    train_images: torch.Tensor  # (N, C, H, W) uint8
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    source: str  # where the data came from: a directory, an archive or "bundled"/"generated"


# (root, **options) -> Official. `root` is the user's --data-dir (None: search the defaults).
OfficialLoader = Callable[..., Official]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    load: OfficialLoader
    summary: str  # one line for `cnnopt data info` and error messages
    options: tuple[str, ...] = ()  # keyword options the loader accepts besides root
    # Published per-channel statistics (0..1 scale); None: computed from the training split.
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    fetch_hint: str = ""  # how to get the files when they are missing
    # The loader's own option that decodes at another image size (digits upscales its 8x8
    # source, imagefolder resizes each file): load_dataset(image_size=) goes through it rather
    # than resizing an already resized tensor a second time. None: resized after loading.
    size_option: str | None = None


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(
    name: str,
    summary: str,
    *,
    options: tuple[str, ...] = (),
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
    fetch_hint: str = "",
    size_option: str | None = None,
) -> Callable[[OfficialLoader], OfficialLoader]:
    """Decorator for a function `(root: Path | None, **options) -> Official`."""

    def decorator(load: OfficialLoader) -> OfficialLoader:
        spec = DatasetSpec(name, load, summary, options, stats, fetch_hint, size_option)
        DATASETS.add(name, spec)
        return load

    return decorator


def file_key(path: Path) -> tuple[str, int, int]:
    """Cache key for a decoded file: the same path rewritten (new mtime/size) is decoded again."""
    resolved = path.resolve()
    info = resolved.stat()
    return (str(resolved), info.st_mtime_ns, info.st_size)
