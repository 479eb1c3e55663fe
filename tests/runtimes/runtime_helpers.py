"""Test helpers shared by tests/runtimes and tests/transforms/test_quantize*.py: a tiny residual
CNN with BatchNorm and a quickly learnable digits dataset."""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.data.base import TensorData


class TinyResNet(nn.Module):
    """Conv-BN-ReLU stem, one residual block, pooling, linear head: the patterns that matter
    for export (BN folding, Add, Flatten + Gemm)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(x + self.bn2(self.conv2(y)))
        return self.fc(torch.flatten(self.pool(x), 1))


def digits() -> tuple[TensorData, TensorData]:
    """sklearn's 8x8 digits upsampled to 16x16 as uint8 images: real, learnable in seconds."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = torch.nn.functional.interpolate(images, size=16, mode="bilinear")
    images = (images * 255).round().clamp(0, 255).to(torch.uint8)
    labels = torch.tensor(bunch.target)
    classes = [str(i) for i in range(10)]
    data = TensorData(images, labels, classes, (0.25,), (0.35,), name="digits")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    return data.subset(perm[:1400]), data.subset(perm[1400:])


def train_quickly(model: nn.Module, data: TensorData, steps: int = 400) -> nn.Module:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x_all, y_all = data.tensors()
    gen = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(y_all), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(x_all[index]), y_all[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def trained_tiny_resnet() -> tuple[nn.Module, TensorData, TensorData]:
    """(trained TinyResNet in eval mode, train split, val split); ~2 s on one thread."""
    train, val = digits()
    torch.manual_seed(0)
    return train_quickly(TinyResNet(), train), train, val
