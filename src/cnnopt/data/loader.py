"""Batches straight from in-memory tensors: slicing, optional shuffling and augmentation."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from cnnopt.data.base import TensorData

# An augmentation takes a normalized float batch and a generator and returns a batch of the
# same shape (see cnnopt.data.augment).
BatchTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def iterate_batches(
    data: TensorData,
    batch_size: int,
    *,
    shuffle: bool = False,
    augment: BatchTransform | None = None,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (normalized images, labels) batches; the last short batch is kept unless drop_last."""
    n = len(data)
    generator = generator or torch.Generator().manual_seed(0)
    order = torch.randperm(n, generator=generator) if shuffle else None
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        if order is None:
            index = slice(start, min(start + batch_size, n))
            images, labels = data.images[index], data.labels[index]
        else:
            index = order[start : start + batch_size]
            images, labels = data.images[index], data.labels[index]
        x = data.normalize(images)
        if augment is not None:
            x = augment(x, generator)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x.to(device, non_blocking=True), labels.to(device, non_blocking=True)


def num_batches(data: TensorData, batch_size: int, drop_last: bool = False) -> int:
    n = len(data)
    if drop_last and n >= batch_size:
        return n // batch_size
    return (n + batch_size - 1) // batch_size
