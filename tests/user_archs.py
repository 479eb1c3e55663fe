"""Users' own architectures, the kinds cnnopt was never designed around.

Each factory takes `in_channels` and `num_classes` and returns a small trainable CNN, so the
file works as `--model tests/user_archs.py:FACTORY` on the command line as well as from tests
and `benchmarks/user_models.py`. Together they cover: several heads (summed, concatenated,
returned as a tuple or a dict), encoder-decoders with ConvTranspose/upsampling and skips,
grouped / depthwise convs with squeeze-excitation, norms other than BatchNorm (LayerNorm,
GroupNorm, InstanceNorm), raw `nn.Parameter`s (layer scale, functional convs), channel
shuffles and a model that repeats a 1-channel input to 3 channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --- building blocks ------------------------------------------------------------------------


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = F.hardsigmoid(self.fc2(F.relu(self.fc1(scale))))
        return x * scale


class DepthwiseSE(nn.Module):
    """MobileNetV3-style: depthwise 3x3, Hardswish, squeeze-excitation, pointwise 1x1."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.se = SqueezeExcite(cin)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.hardswish(self.bn1(self.dw(x)))
        return F.hardswish(self.bn2(self.pw(self.se(x))))


class DenseSETwoHeads(nn.Module):
    """Dense concatenation, depthwise + SE with Hardswish, a grouped conv, two heads summed
    (the model whose int8 OpenVINO candidate once crashed the whole search)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, 1, 1), nn.BatchNorm2d(16))
        self.block1 = DepthwiseSE(16, 16)
        self.block2 = DepthwiseSE(32, 16)  # sees stem ++ block1
        self.grouped = nn.Sequential(
            nn.Conv2d(48, 48, 3, 2, 1, groups=4, bias=False), nn.BatchNorm2d(48), nn.ReLU()
        )
        self.head_a = nn.Linear(48, num_classes)
        self.head_b = nn.Sequential(nn.Conv2d(48, num_classes, 1), nn.AdaptiveAvgPool2d(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = F.hardswish(self.stem(x))
        x1 = self.block1(x0)
        x2 = self.block2(torch.cat([x0, x1], 1))
        x = self.grouped(torch.cat([x0, x1, x2], 1))
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.head_a(pooled) + torch.flatten(self.head_b(x), 1)


class TwoHeadsSum(nn.Module):
    """A plain trunk and two linear classifier heads whose logits are summed."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(),
        )  # fmt: skip
        self.head1 = nn.Linear(32, num_classes)
        self.head2 = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x).mean((2, 3))
        return self.head1(z) + self.head2(z)


class EncoderDecoderPooled(nn.Module):
    """Encoder-decoder with a ConvTranspose, an upsample and a skip; a 1x1 segmentation-style
    head conv followed by global pooling gives the class scores."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.enc2 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.enc3 = nn.Sequential(nn.Conv2d(32, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(32, 32, 2, 2)
        self.dec1 = nn.Sequential(nn.Conv2d(32, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(16, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        d = self.up1(self.enc3(e2)) + e2
        d = self.up2(self.dec1(d)) + e1
        return F.adaptive_avg_pool2d(self.head(d), 1).flatten(1)


class FunctionalConvs(nn.Module):
    """Only `F.conv2d` calls on raw `nn.Parameter` weights: nothing a module-based tool sees."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.w1 = nn.Parameter(
            torch.randn(16, in_channels, 3, 3) * (2.0 / (9 * in_channels)) ** 0.5
        )
        self.b1 = nn.Parameter(torch.zeros(16))
        self.w2 = nn.Parameter(torch.randn(32, 16, 3, 3) * (2.0 / 144) ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(32))
        self.fc_w = nn.Parameter(torch.randn(num_classes, 32) * 32**-0.5)
        self.fc_b = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.w1, self.b1, padding=1))
        x = F.max_pool2d(x, 2)
        x = F.relu(F.conv2d(x, self.w2, self.b2, padding=1))
        return F.linear(x.mean((2, 3)), self.fc_w, self.fc_b)


class TupleOutput(nn.Module):
    """Returns (logits, features), as models with a feature head or auxiliary loss do."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 24, 3, 1, 1), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(24, 48, 3, 1, 1), nn.BatchNorm2d(48), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.fc = nn.Linear(48, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.fc(features), features


class DictOutput(nn.Module):
    """Returns {"logits": ..., "aux": ...}: a main head and an auxiliary head."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.stage2 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.main = nn.Linear(32, num_classes)
        self.aux = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        s1 = self.stage1(x)
        s2 = self.stage2(s1)
        return {"logits": self.main(s2.mean((2, 3))), "aux": self.aux(s1.mean((2, 3)))}


class ChannelsLayerNorm(nn.Module):
    """LayerNorm over channels of an NCHW map, the ConvNeXt way (permute, norm, permute)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 7, 1, 3, groups=channels)
        self.norm = ChannelsLayerNorm(channels)
        self.pw1 = nn.Conv2d(channels, 4 * channels, 1)
        self.pw2 = nn.Conv2d(4 * channels, channels, 1)
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), 0.1))  # layer scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.pw2(F.gelu(self.pw1(self.norm(self.dw(x)))))


class ConvNeXtLayerScale(nn.Module):
    """ConvNeXt-style: patchify stem, depthwise 7x7, LayerNorm, GELU, layer-scale gamma."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 24, 2, 2), ChannelsLayerNorm(24))
        self.stage1 = ConvNeXtBlock(24)
        self.down = nn.Sequential(ChannelsLayerNorm(24), nn.Conv2d(24, 48, 2, 2))
        self.stage2 = ConvNeXtBlock(48)
        self.norm = nn.LayerNorm(48)
        self.fc = nn.Linear(48, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.fc(self.norm(x.mean((2, 3))))


class RepeatToRGB(nn.Module):
    """Repeats a 1-channel image to 3 channels (as ImageNet-style models fed grey data do)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        return self.fc(torch.flatten(self.body(self.stem(x)), 1))


class GroupNormResidual(nn.Module):
    """Residual blocks with GroupNorm and SiLU, no BatchNorm anywhere."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 32, 3, 1, 1)
        self.block = nn.Sequential(
            nn.GroupNorm(4, 32), nn.SiLU(), nn.Conv2d(32, 32, 3, 1, 1),
            nn.GroupNorm(4, 32), nn.SiLU(), nn.Conv2d(32, 32, 3, 1, 1),
        )  # fmt: skip
        self.down = nn.Sequential(nn.GroupNorm(4, 32), nn.SiLU(), nn.Conv2d(32, 64, 3, 2, 1))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.block(x)
        return self.fc(F.adaptive_avg_pool2d(F.silu(self.down(x)), 1).flatten(1))


class UNetSkipClassifier(nn.Module):
    """A small U-Net (concatenated skips, bilinear upsampling, InstanceNorm) with a pooled
    classifier on the decoder's output."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Module:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, 1, 1), nn.InstanceNorm2d(cout, affine=True), nn.ReLU()
            )

        self.down1, self.down2, self.bottom = conv(in_channels, 16), conv(16, 32), conv(32, 32)
        self.up2, self.up1 = conv(64, 16), conv(32, 16)
        self.classifier = nn.Conv2d(16, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        b = self.bottom(F.max_pool2d(d2, 2))
        u2 = self.up2(torch.cat([F.interpolate(b, size=d2.shape[-2:], mode="bilinear"), d2], 1))
        u1 = self.up1(torch.cat([F.interpolate(u2, size=d1.shape[-2:], mode="bilinear"), d1], 1))
        return self.classifier(u1).mean((2, 3))


class InceptionFunctional(nn.Module):
    """Parallel 1x1 / 3x3 / 5x5 / pool branches joined by torch.cat, functional activations."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, 2, 1)
        self.b1 = nn.Conv2d(16, 8, 1)
        self.b3 = nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 1, 1))
        self.b5 = nn.Sequential(nn.Conv2d(16, 4, 1), nn.ReLU(), nn.Conv2d(4, 8, 5, 1, 2))
        self.bp = nn.Conv2d(16, 8, 1)
        self.bn = nn.BatchNorm2d(40)
        self.fc = nn.Linear(40, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        branches = [self.b1(x), self.b3(x), self.b5(x), self.bp(F.avg_pool2d(x, 3, 1, 1))]
        x = F.relu(self.bn(torch.cat(branches, 1)))
        return self.fc(torch.flatten(F.adaptive_max_pool2d(x, 1), 1))


class ShuffleBlockNet(nn.Module):
    """Grouped 1x1 convs with a ShuffleNet channel shuffle (view/transpose) between them,
    and a dilated 3x3."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU()
        )
        self.g1 = nn.Conv2d(32, 32, 1, groups=4)
        self.dw = nn.Conv2d(32, 32, 3, 1, 2, dilation=2, groups=32)
        self.g2 = nn.Conv2d(32, 32, 1, groups=4)
        self.bn = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = F.relu(self.g1(x))
        n, c, h, w = y.shape
        y = y.view(n, 4, c // 4, h, w).transpose(1, 2).reshape(n, c, h, w)
        y = self.bn(self.g2(self.dw(y)))
        return self.fc(F.relu(x + y).mean((2, 3)))


class ConcatHeads(nn.Module):
    """Two heads of 5 classes each whose outputs are concatenated into the 10 scores."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        half = num_classes // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(),
        )  # fmt: skip
        self.left = nn.Conv2d(32, half, 1)
        self.right = nn.Conv2d(32, num_classes - half, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        return torch.cat([self.left(z), self.right(z)], 1).mean((2, 3))


# --- factories: `--model tests/user_archs.py:NAME` --------------------------------------------

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "dense_se_two_heads": DenseSETwoHeads,
    "two_heads_sum": TwoHeadsSum,
    "encoder_decoder_pooled": EncoderDecoderPooled,
    "functional_convs": FunctionalConvs,
    "tuple_output": TupleOutput,
    "dict_output": DictOutput,
    "convnext_layerscale": ConvNeXtLayerScale,
    "repeat_to_rgb": RepeatToRGB,
    "groupnorm_residual": GroupNormResidual,
    "unet_skip_classifier": UNetSkipClassifier,
    "inception_functional": InceptionFunctional,
    "shuffle_block_net": ShuffleBlockNet,
    "concat_heads": ConcatHeads,
}


def _factory(cls: type[nn.Module]):  # a plain callable per architecture
    def build(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
        return cls(in_channels=in_channels, num_classes=num_classes)

    build.__name__ = build.__qualname__ = cls.__name__
    build.__doc__ = cls.__doc__
    return build


for _name, _cls in ARCHITECTURES.items():
    globals()[_name] = _factory(_cls)


def flat_28x28(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Runs on 28x28 images only: the Linear after the flatten is sized for them (MNIST
    tutorials' shape). Not in ARCHITECTURES, which all run on 16x16 digits."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 14 * 14, num_classes),
    )


def five_outputs(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Ignores num_classes and always has 5 outputs: a mismatch cnnopt must refuse."""
    return TwoHeadsSum(in_channels=in_channels, num_classes=5)


def build_all(in_channels: int = 1, num_classes: int = 10) -> dict[str, nn.Module]:
    """Every architecture above, freshly initialised with a fixed seed."""
    models = {}
    for name, cls in ARCHITECTURES.items():
        torch.manual_seed(0)
        models[name] = cls(in_channels=in_channels, num_classes=num_classes)
    return models
