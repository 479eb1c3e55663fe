"""Augmentation of whole normalized batches: random crop with padding, flips and cutout.

Each is a handful of tensor ops on the batch (no per-sample Python), so augmenting a
256x1x28x28 batch costs well under a millisecond and the CPU stays busy with the model.
Padding and cutout fill with 0, which in a normalized batch is the dataset mean: a neutral
grey rather than the black border torchvision pads before normalization.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnopt.errors import CnnoptError


@dataclass(frozen=True)
class Augment:
    crop_padding: int = 0  # pad by this many pixels, then crop back at a random offset
    hflip: bool = False  # mirror half the images left-right (not for digits or text)
    cutout: int = 0  # zero one random square of this side per image (DeVries & Taylor 2017)

    def __post_init__(self) -> None:
        for name in ("crop_padding", "cutout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CnnoptError(
                    f"Augment.{name} must be a whole number >= 0, got {value!r}",
                    f"e.g. {name}=2 (0 disables it)",
                )

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a (N, C, H, W) float batch; the same generator state gives the same output."""
        if x.ndim != 4:
            raise CnnoptError(
                f"augmentation needs an N x C x H x W batch, got shape {tuple(x.shape)}",
                "apply it to image batches from iterate_batches",
            )
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, generator)
        if self.hflip:
            x = random_hflip(x, generator)
        if self.cutout:
            x = cutout(x, self.cutout, generator)
        return x


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad, then take each sample's H x W window at its own random offset in one gather."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # N x 1 x H x 1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # N x 1 x 1 x W
    samples = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[samples, channels, rows, cols]


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a size x size square centred at a random pixel (clipped at the borders)."""
    n, _, h, w = x.shape
    top = (torch.randint(0, h, (n,), generator=generator) - size // 2).to(x.device)
    left = (torch.randint(0, w, (n,), generator=generator) - size // 2).to(x.device)
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    in_rows = (ys >= top[:, None]) & (ys < top[:, None] + size)  # N x H
    in_cols = (xs >= left[:, None]) & (xs < left[:, None] + size)  # N x W
    mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]  # N x 1 x H x W
    return x.masked_fill(mask, 0.0)


_DEFAULTS = {
    # clothing is left-right symmetric; a 2-pixel shift is about 7% of 28 pixels
    "fashionmnist": Augment(crop_padding=2, hflip=True),
    # digits are not mirror-symmetric (a flipped 2 is no 2)
    "mnist": Augment(crop_padding=2),
    "digits": Augment(crop_padding=1),
    # the standard CIFAR recipe (pad 4, crop 32, flip)
    "cifar10": Augment(crop_padding=4, hflip=True),
    "cifar100": Augment(crop_padding=4, hflip=True),
}


def default_augment(dataset_name: str) -> Augment | None:
    """The usual augmentation for a known dataset; None (no augmentation) for anything else.

    Unknown data gets none because a wrong guess (flipping text, cropping away small objects)
    silently costs accuracy, while no augmentation only costs a little generalization.
    """
    key = dataset_name.lower().replace("-", "").replace("_", "")
    return _DEFAULTS.get(key)
