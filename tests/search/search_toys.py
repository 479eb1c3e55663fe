"""A learnable 3-class toy dataset and a small BN conv net shared by the search tests."""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.data.base import TensorData
from cnnopt.runtimes.base import Predictor


def toy_data(n: int, seed: int) -> TensorData:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=gen)
    images = torch.randint(0, 60, (n, 1, 8, 8), generator=gen, dtype=torch.uint8)
    images[:, 0, 2:6, 2:6] += (labels * 60).view(-1, 1, 1).to(torch.uint8)  # learnable
    return TensorData(images, labels, ["a", "b", "c"], (0.3,), (0.3,), name=f"toy{seed}")


def toy_model(width: int = 16) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 3),
    )  # fmt: skip


class ModulePredictor(Predictor):
    """Stands in for a runtime in tests that patch build_predictor: runs the model eagerly."""

    runtime = "eager"

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(x).float()
