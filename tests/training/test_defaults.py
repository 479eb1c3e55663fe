"""The default model and recipe: what `cnnopt train` uses when nothing is given."""

from __future__ import annotations

import pytest
import torch

from cnnopt.defaults import DEFAULT_DATASET, DEFAULT_MODEL, default_train_config
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model


def test_default_recipe_is_valid_and_fresh_each_call():
    first = default_train_config(DEFAULT_DATASET)
    first.epochs = 1
    second = default_train_config(DEFAULT_DATASET)
    assert second.epochs != 1 and second.channels_last


@pytest.mark.parametrize(
    ("flags", "precision"),
    [({"avx2", "avx512f", "avx512_bf16"}, "bf16"), ({"avx2", "amx_bf16"}, "bf16"),
     ({"avx2", "fma"}, "fp32"), (set(), "fp32")],
)  # fmt: skip
def test_bf16_only_where_the_cpu_runs_it(monkeypatch, flags, precision):
    """An AVX2-only EPYC trained the recipe at 113 images/s in (emulated) bf16, 1,218 in fp32."""
    import cnnopt.bench.machine as machine

    monkeypatch.setattr(machine, "cpu_flags", lambda: set(flags))
    assert default_train_config(DEFAULT_DATASET).precision == precision
    assert default_train_config(DEFAULT_DATASET, precision="bf16").precision == "bf16"
    assert default_train_config("digits").precision == "fp32"


def test_overrides_apply_and_are_validated():
    assert default_train_config("digits", lr=0.01).lr == 0.01
    assert default_train_config("some-new-set").batch_size == 256  # falls back to FMNIST
    with pytest.raises(CnnoptError):
        default_train_config(DEFAULT_DATASET, lr=-1)


@pytest.mark.parametrize("size", [8, 28, 32])
def test_default_model_handles_small_inputs(size):
    model = create_model(DEFAULT_MODEL, num_classes=10, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, size, size)).shape == (2, 10)
