"""Models and data shared by the transform tests: small enough to run in milliseconds."""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.data.base import TensorData


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class MixedNet(nn.Module):
    """Every topology pruning must keep consistent: residual add, torch.cat, depthwise conv,
    grouped conv, squeeze-excitation and two output heads."""

    def __init__(self, in_channels: int = 3, classes: int = 10, aux_classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()
        )
        self.branch_a = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()
        )
        self.branch_b = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False),  # depthwise
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 32, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
        )
        self.grouped = nn.Sequential(
            nn.Conv2d(64, 64, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(64), nn.ReLU()
        )
        self.se = SqueezeExcite(64, 16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(64, classes)
        self.aux_head = nn.Linear(64, aux_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        x = x + self.se(self.grouped(x))  # residual add around grouped conv + SE
        x = self.flatten(self.pool(x))
        return self.head(x), self.aux_head(x)


def synthetic_data(n: int = 256, size: int = 8, classes: int = 4, seed: int = 0) -> TensorData:
    """Learnable in a few epochs: the class is the quadrant that holds a bright square."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=gen)
    images = torch.randint(0, 60, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    half = size // 2
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label % 4, 2)
        images[i, :, row * half : (row + 1) * half, col * half : (col + 1) * half] += 150
    return TensorData(
        images, labels, [f"c{i}" for i in range(classes)], (0.4,) * 3, (0.3,) * 3, name="synthetic"
    )


def small_cnn(classes: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, classes),
    )
