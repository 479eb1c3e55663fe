"""LeNet-5 (LeCun et al. 1998), the smallest sensible CNN: a sanity baseline for MNIST-sized data.

The usual MNIST geometry (conv1 padded by 2, conv2 unpadded) gives the paper's exact 5x5x16
features at 28x28, where the adaptive pool is a no-op that every ONNX exporter handles; other
sizes (32x32, 224x224) are pooled to 5x5, so the classifier and the classic 61,706 parameters
(1 channel, 10 classes) never change. Inputs must be at least 10x10.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.models._layers import init_weights
from cnnopt.models.registry import register_model


def _scaled(channels: int, width: float) -> int:
    """LeNet's layers are tiny, so keep exact small ints instead of multiples of 8."""
    return max(1, round(channels * width))


class LeNet5(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, width: float) -> None:
        super().__init__()
        c1, c2 = _scaled(6, width), _scaled(16, width)
        h1, h2 = _scaled(120, width), _scaled(84, width)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2),  # N x c1 x H x W
            nn.ReLU(inplace=False),
            nn.MaxPool2d(2, ceil_mode=True),  # H/2
            nn.Conv2d(c1, c2, 5),  # H/2 - 4
            nn.ReLU(inplace=False),
            nn.MaxPool2d(2, ceil_mode=True),  # 5x5 at 28x28
        )
        self.pool = nn.AdaptiveAvgPool2d(5)  # N x c2 x 5 x 5 whatever the input size
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * 25, h1),
            nn.ReLU(inplace=False),
            nn.Linear(h1, h2),
            nn.ReLU(inplace=False),
            nn.Linear(h2, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


@register_model("lenet5")
def lenet5(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """LeNet-5: 2 convs + 3 FC layers, ~62K params; the quick baseline for digits/MNIST."""
    return init_weights(LeNet5(num_classes, in_channels, width))
