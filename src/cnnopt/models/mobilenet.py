"""MobileNetV2 (Sandler et al. 2018) with small-input strides.

The stem and the first two stages run at stride 1 (the original downsamples 32x in total;
this one 8x), so a 32x32 image still has a 4x4 map at the end instead of 1x1. Activations
are ReLU6 modules as in the paper: ONNX exports them as Clip, which every runtime fuses.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.models._layers import conv_bn_relu, init_weights, make_divisible
from cnnopt.models.registry import register_model

# (expansion t, output channels c, repeats n, first stride s), the paper's table 2 with the
# second stage's stride lowered from 2 to 1 for small inputs.
SMALL_INPUT_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise -> 1x1 linear project, with a skip when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        # Fixed at construction, so the `if` in forward is not data-dependent (fx/ONNX safe).
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_relu(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [
            conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, width: float) -> None:
        super().__init__()
        channels = make_divisible(32 * width)
        # The paper keeps the last layer at 1280 when width < 1: it is cheap at 1x1 and the
        # classifier needs it.
        last_channels = make_divisible(1280 * max(1.0, width))
        layers: list[nn.Module] = [conv_bn_relu(in_channels, channels, 3, 1, activation=nn.ReLU6)]
        for expansion, base_out, repeats, first_stride in SMALL_INPUT_SETTINGS:
            out = make_divisible(base_out * width)
            for i in range(repeats):
                stride = first_stride if i == 0 else 1
                layers.append(InvertedResidual(channels, out, stride, expansion))
                channels = out
        layers.append(conv_bn_relu(channels, last_channels, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(last_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.pool(self.features(x)))
        return self.classifier(self.dropout(x))


@register_model("mobilenet_v2")
def mobilenet_v2(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """MobileNetV2, small-input strides (8x downsampling): inverted residuals, ~2.2M params."""
    model = MobileNetV2(num_classes, in_channels, width)
    init_weights(model)
    nn.init.normal_(model.classifier.weight, 0, 0.01)
    nn.init.zeros_(model.classifier.bias)
    return model
