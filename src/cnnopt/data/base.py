"""The in-memory dataset every part of cnnopt passes around.

Small vision datasets fit in RAM as one uint8 tensor, so there is no DataLoader, no worker
processes and no per-sample Python: batches are slices, augmentation runs on whole batches
(see `augment.py`) and normalization happens once per batch. That is what makes CPU training
of Fashion-MNIST fast enough to finish in minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from cnnopt.errors import CnnoptError

SPLITS = ("train", "val", "trainval", "test")
# train + val = the official training set; val is a fixed, seeded hold-out used for every
# choice (early stopping, search). The official test split is only ever reported.
DEFAULT_VAL_FRACTION = 1 / 12
SPLIT_SEED = 20240601


@dataclass
class TensorData:
    images: torch.Tensor  # (N, C, H, W): uint8 in 0..255, or float32 already scaled to 0..1
    labels: torch.Tensor  # (N,) int64 class indices
    classes: list[str]
    mean: tuple[float, ...]  # per channel, on the 0..1 scale, from the training split
    std: tuple[float, ...]
    name: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise CnnoptError(
                f"dataset {self.name!r}: images must be N x C x H x W, got shape "
                f"{tuple(self.images.shape)}",
                "reshape the images or check the file format",
            )
        if len(self.images) != len(self.labels):
            raise CnnoptError(
                f"dataset {self.name!r}: {len(self.images)} images but {len(self.labels)} labels",
                "the image and label files do not belong together; re-download them",
            )
        if len(self.images) == 0:
            raise CnnoptError(f"dataset {self.name!r} is empty", "check the data directory")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: torch.Tensor | Sequence[int] | slice) -> TensorData:
        """A view on some samples, keeping classes and normalization statistics."""
        if not isinstance(index, slice):
            index = torch.as_tensor(index, dtype=torch.long)
        return TensorData(
            self.images[index],
            self.labels[index],
            list(self.classes),
            self.mean,
            self.std,
            self.name,
            dict(self.extra),
        )

    def take(self, n: int | None, seed: int = 0) -> TensorData:
        """A seeded random subset of at most n samples (all of them when n is None)."""
        if n is None or n >= len(self):
            return self
        gen = torch.Generator().manual_seed(seed)
        return self.subset(torch.randperm(len(self), generator=gen)[:n])

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 or 0..1 images -> float32 standardized with this dataset's statistics."""
        x = images.float()
        if images.dtype == torch.uint8:
            x = x / 255.0
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All samples normalized: handy for small evaluation sets."""
        return self.normalize(self.images), self.labels


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std on the 0..1 scale, computed in chunks to bound memory."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    count = 0
    for start in range(0, len(images), 4096):
        x = images[start : start + 4096].double()
        if images.dtype == torch.uint8:
            x = x / 255.0
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.numel() // c
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) images (uint8, or float 0..1) -> (N, C, *size), bilinear (antialiased
    when shrinking, as PIL does), in chunks: a 60,000-image set never needs a float copy."""
    import torch.nn.functional as F

    if tuple(images.shape[-2:]) == tuple(size):
        return images
    out = torch.empty((len(images), images.shape[1], *size), dtype=images.dtype)
    for start in range(0, len(images), 4096):
        x = images[start : start + 4096].float()
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        if not images.dtype.is_floating_point:
            y = y.round().clamp(0, 255)
        out[start : start + 4096] = y.to(images.dtype)
    return out


def split_train_val(
    data: TensorData, val_fraction: float = DEFAULT_VAL_FRACTION, seed: int = SPLIT_SEED
) -> tuple[TensorData, TensorData]:
    """Deterministic hold-out: the same samples go to validation on every machine and run."""
    if not 0 < val_fraction < 1:
        raise CnnoptError(
            f"validation fraction must be between 0 and 1, got {val_fraction}",
            "use e.g. --val-fraction 0.1",
        )
    n_val = max(1, round(len(data) * val_fraction))
    if n_val >= len(data):
        raise CnnoptError(
            f"dataset {data.name!r} has only {len(data)} samples: too few to hold out a "
            "validation split",
            "use a larger dataset",
        )
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    return data.subset(perm[n_val:]), data.subset(perm[:n_val])
