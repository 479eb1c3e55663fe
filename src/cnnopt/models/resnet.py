"""ImageNet-layout ResNet-18/34 (He et al. 2016) with a small-input stem.

The 7x7 stride-2 conv and the max-pool are replaced by one 3x3 stride-1 conv, the usual
change for 32x32 images (the original stem would shrink them to 8x8 before any block);
blocks and widths (64/128/256/512) are torchvision's, so counts can be checked against it.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnopt.models._layers import conv_bn_relu, init_weights, make_stage, scale_channels
from cnnopt.models.registry import register_model


class ResNet(nn.Module):
    def __init__(
        self,
        blocks: tuple[int, int, int, int],
        num_classes: int,
        in_channels: int,
        width: float,
    ) -> None:
        super().__init__()
        c1, c2, c3, c4 = (scale_channels(c, width) for c in (64, 128, 256, 512))
        self.stem = conv_bn_relu(in_channels, c1)  # N x c1 x H x W
        self.layer1 = make_stage(c1, c1, blocks[0], stride=1)
        self.layer2 = make_stage(c1, c2, blocks[1], stride=2)  # H/2
        self.layer3 = make_stage(c2, c3, blocks[2], stride=2)  # H/4
        self.layer4 = make_stage(c3, c4, blocks[3], stride=2)  # H/8
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.flatten(self.pool(x)))


@register_model("resnet18")
def resnet18(
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    zero_init_residual: bool = False,
) -> nn.Module:
    """ResNet-18 with a 3x3 stride-1 stem for small images, ~11.2M params at 10 classes."""
    return init_weights(ResNet((2, 2, 2, 2), num_classes, in_channels, width), zero_init_residual)


@register_model("resnet34")
def resnet34(
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    zero_init_residual: bool = False,
) -> nn.Module:
    """ResNet-34 with a 3x3 stride-1 stem for small images, ~21.3M params at 10 classes."""
    return init_weights(ResNet((3, 4, 6, 3), num_classes, in_channels, width), zero_init_residual)
