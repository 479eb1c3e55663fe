"""VGG with batch norm (Simonyan & Zisserman 2014), adapted to small images as in CIFAR work.

The five 2x2 max-pools use ceil_mode, so a 1x1 map stays 1x1 and the net runs on 8x8 inputs;
global average pooling and one linear layer replace the 4096-wide FC head, which would be
~90% of the parameters and pointless for 10 classes.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.models._layers import conv_bn_relu, init_weights, scale_channels
from cnnopt.models.registry import register_model

POOL = "M"
CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL],
    "vgg16": [
        *(64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL),
        *(512, 512, 512, POOL, 512, 512, 512, POOL),
    ],
}


class VGG(nn.Module):
    def __init__(
        self, config: list[int | str], num_classes: int, in_channels: int, width: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in config:
            if item == POOL:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                out = scale_channels(int(item), width)
                layers.append(conv_bn_relu(channels, out))
                channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


@register_model("vgg11_bn")
def vgg11_bn(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """VGG-11 with BN, small-input head: 8 plain 3x3 convs, ~9.2M params; pruning-friendly."""
    return init_weights(VGG(CONFIGS["vgg11"], num_classes, in_channels, width))


@register_model("vgg16_bn")
def vgg16_bn(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """VGG-16 with BN, small-input head: 13 plain 3x3 convs, ~14.7M params; heavily redundant."""
    return init_weights(VGG(CONFIGS["vgg16"], num_classes, in_channels, width))
