"""The defaults a new user gets: which model, which dataset, and a training recipe per dataset.

The Fashion-MNIST recipe is the one measured in benchmarks/train_speed.py (see
benchmarks/results/train_speed.json): fmnist_net, bf16 autocast + channels-last (about 2x
the fp32 throughput on a CPU with avx512_bf16; fp32 + channels-last on CPUs without bf16
hardware, where bf16 is emulated and 10x slower), one-cycle SGD, label smoothing, crop + flip.
Measured on 2 shared EPYC cores: 94.2% test (94.4% with flip-TTA) after 20 epochs in 259 s.
"""

from __future__ import annotations

import dataclasses

from cnnopt.training.config import TrainConfig

DEFAULT_MODEL = "fmnist_net"
DEFAULT_DATASET = "fashion-mnist"

# Tuned on Fashion-MNIST (28x28 grayscale, 60k images) for a ~5 minute budget on 2 CPU cores.
_FASHION_MNIST = TrainConfig(
    epochs=20,
    batch_size=256,
    optimizer="sgd",
    lr=0.2,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    schedule="onecycle",
    label_smoothing=0.1,
    precision="bf16",
    channels_last=True,
    augment="auto",
)

# Tiny datasets (sklearn digits, 8x8): full-batch-ish steps would be too few, so smaller
# batches; bf16 buys nothing at this size.
_SMALL = dataclasses.replace(
    _FASHION_MNIST, epochs=20, batch_size=64, lr=0.05, precision="fp32", channels_last=False
)

_RECIPES = {"fashion-mnist": _FASHION_MNIST, "mnist": _FASHION_MNIST, "digits": _SMALL}


# CPU flags whose kernels make bf16 autocast fast. Without them PyTorch emulates bf16: on an
# AVX2-only EPYC the recipe trained at 113 images/s in bf16 against 1,218 in fp32 (both
# channels-last), so `make demo`'s baseline got a tenth of the training.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_fast_bf16() -> bool:
    from cnnopt.bench.machine import cpu_flags

    flags = cpu_flags()
    return any(flag in flags for flag in BF16_FLAGS)


def default_train_config(dataset: str = DEFAULT_DATASET, **overrides: object) -> TrainConfig:
    """The tuned recipe for `dataset` (the Fashion-MNIST one for datasets without their own),
    with `overrides` applied; always a fresh object, so callers may mutate it. Its bf16 is
    fp32 on CPUs without bf16 hardware (see BF16_FLAGS) unless `overrides` ask for bf16."""
    base = _RECIPES.get(dataset.lower(), _FASHION_MNIST)
    if base.precision == "bf16" and not cpu_has_fast_bf16():
        base = dataclasses.replace(base, precision="fp32")
    config = dataclasses.replace(base, **overrides)  # type: ignore[arg-type]
    return config.validate()
