"""The "linear analysis" of a conv layer's cost: MACs, parameter and activation memory.

These are closed-form counts from the layer's shape, so they can be put next to measured
times: time / MACs shows how close each algorithm runs to the machine's GEMM peak.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnopt.errors import CnnoptError

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class ConvSpec:
    """One conv layer on a square input: enough to count its cost and to time it."""

    name: str
    c_in: int
    c_out: int
    size: int  # input height = width
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    groups: int = 1

    @property
    def out_size(self) -> int:
        return (self.size + 2 * self.padding - self.kernel) // self.stride + 1

    def macs(self, batch: int = 1) -> int:
        """Multiply-adds of direct convolution: N * Co * OH * OW * (Ci/G) * k * k."""
        per_output = (self.c_in // self.groups) * self.kernel**2
        return batch * self.c_out * self.out_size**2 * per_output

    def flops(self, batch: int = 1) -> int:
        return 2 * self.macs(batch)

    @property
    def params(self) -> int:
        """Weights plus one bias per filter (what a BN-folded conv carries)."""
        return self.c_out * (self.c_in // self.groups) * self.kernel**2 + self.c_out

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_PER_VALUE

    def activation_bytes(self, batch: int = 1) -> int:
        """Input plus output feature maps: the memory a layer touches besides its weights."""
        values = self.c_in * self.size**2 + self.c_out * self.out_size**2
        return batch * values * BYTES_PER_VALUE

    def im2col_bytes(self, batch: int = 1) -> int:
        """The column matrix im2col materializes: k*k times the input (the price of one GEMM)."""
        rows = (self.c_in // self.groups) * self.kernel**2 * self.groups
        return batch * rows * self.out_size**2 * BYTES_PER_VALUE

    @property
    def winograd_ok(self) -> bool:
        return self.kernel == 3 and self.stride == 1 and self.groups == 1

    def winograd_macs(self, batch: int = 1, tile: int = 2) -> int:
        """F(m x m, 3x3): (m+2)^2 products per m x m output tile instead of 9 m^2; 2.25x
        fewer MACs for F(2x2), 4x for F(4x4) (less where tiles overhang the map's edge)."""
        tiles = batch * (-(-self.out_size // tile)) ** 2
        return (tile + 2) ** 2 * self.c_out * self.c_in * tiles

    def scaled(self, max_macs: int) -> ConvSpec:
        """A smaller layer of the same kind (less spatial size, then fewer channels) with at
        most `max_macs` MACs: how the naive loops are timed before scaling up by MACs."""
        spec = self
        while spec.macs() > max_macs and spec.out_size > 2:
            spec = ConvSpec(spec.name, spec.c_in, spec.c_out, spec.size - spec.stride,
                            spec.kernel, spec.stride, spec.padding, spec.groups)  # fmt: skip
        while spec.macs() > max_macs and spec.c_out > 1:
            c_in = max(spec.groups, spec.c_in // 2 // spec.groups * spec.groups)
            c_out = max(spec.groups, spec.c_out // 2 // spec.groups * spec.groups)
            spec = ConvSpec(spec.name, c_in, c_out, spec.size, spec.kernel, spec.stride,
                            spec.padding, spec.groups)  # fmt: skip
            if c_out == spec.groups:
                break
        return spec


def _resnet18_small() -> list[ConvSpec]:
    # CIFAR-style ResNet-18 (3x3 stem, no max-pool) on a 32x32 input: every distinct 3x3 conv.
    return [
        ConvSpec("stem 3->64 @32", 3, 64, 32),
        ConvSpec("layer1 64->64 @32", 64, 64, 32),
        ConvSpec("layer2.0 64->128 s2 @32", 64, 128, 32, stride=2),
        ConvSpec("layer2 128->128 @16", 128, 128, 16),
        ConvSpec("layer3.0 128->256 s2 @16", 128, 256, 16, stride=2),
        ConvSpec("layer3 256->256 @8", 256, 256, 8),
        ConvSpec("layer4.0 256->512 s2 @8", 256, 512, 8, stride=2),
        ConvSpec("layer4 512->512 @4", 512, 512, 4),
    ]


def _resnet20() -> list[ConvSpec]:
    return [
        ConvSpec("stem 1->16 @28", 1, 16, 28),
        ConvSpec("stage1 16->16 @28", 16, 16, 28),
        ConvSpec("stage2.0 16->32 s2 @28", 16, 32, 28, stride=2),
        ConvSpec("stage2 32->32 @14", 32, 32, 14),
        ConvSpec("stage3.0 32->64 s2 @14", 32, 64, 14, stride=2),
        ConvSpec("stage3 64->64 @7", 64, 64, 7),
    ]


def _tiny() -> list[ConvSpec]:
    """Seconds-fast set for tests and a quick look."""
    return [ConvSpec("tiny 8->8 @8", 8, 8, 8), ConvSpec("tiny 8->16 s2 @8", 8, 16, 8, stride=2)]


LAYER_SETS = {"resnet18": _resnet18_small, "resnet20": _resnet20, "tiny": _tiny}


def layer_set(name: str) -> list[ConvSpec]:
    if name not in LAYER_SETS:
        raise CnnoptError(
            f"unknown layer set {name!r}", f"choose one of: {', '.join(sorted(LAYER_SETS))}"
        )
    return LAYER_SETS[name]()
