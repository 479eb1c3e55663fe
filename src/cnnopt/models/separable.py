"""A plain depthwise-separable CNN in the style of MobileNetV1 (Howard et al. 2017).

No residuals and no expansion: each block is a 3x3 depthwise conv and a 1x1 pointwise conv,
each followed by BN + ReLU. It isolates what depthwise convolutions cost in each runtime
(they are memory-bound, so FLOP counts overstate their speed) and is trivial to prune.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.models._layers import conv_bn_relu, init_weights, scale_channels
from cnnopt.models.registry import register_model

# (output channels, stride of the depthwise conv): 8x downsampling for small images.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1))


class SeparableBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.depthwise = conv_bn_relu(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = conv_bn_relu(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class DepthwiseSeparableCNN(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, width: float) -> None:
        super().__init__()
        channels = scale_channels(32, width)
        layers: list[nn.Module] = [conv_bn_relu(in_channels, channels)]
        for base_out, stride in BLOCKS:
            out = scale_channels(base_out, width)
            layers.append(SeparableBlock(channels, out, stride))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


@register_model("dwsep_cnn")
def dwsep_cnn(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """Plain depthwise-separable CNN (MobileNetV1-style, no residuals), ~0.54M params."""
    return init_weights(DepthwiseSeparableCNN(num_classes, in_channels, width))
