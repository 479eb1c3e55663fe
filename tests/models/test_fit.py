"""Whether a model fits an input and a dataset is decided by running it (cnnopt.models.fit)."""

from __future__ import annotations

import pytest
import torch
import user_archs  # tests/user_archs.py, on the path through tests/conftest.py
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnopt.data.base import TensorData
from cnnopt.errors import CnnoptError
from cnnopt.models.fit import check_fits_data, check_runs_on, probe
from cnnopt.outputs import select_output, set_output


def _data(channels: int, size: int, classes: int, n: int = 4) -> TensorData:
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8)
    labels = torch.arange(n) % classes
    names = [str(i) for i in range(classes)]
    return TensorData(images, labels, names, (0.5,) * channels, (0.25,) * channels, "toy")


def _net(channels: int, outputs: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, outputs),
    )


def test_a_model_that_repeats_grey_to_rgb_fits_1_channel_data() -> None:
    """Its first conv takes 3 channels, which the old first-conv guess refused."""
    model = user_archs.repeat_to_rgb(in_channels=1, num_classes=10)
    assert model.stem[0].in_channels == 3  # what a guess would have read
    check_fits_data(model, _data(1, 16, 10))
    check_runs_on(model, (1, 16, 16))


def test_five_outputs_on_ten_classes_is_refused_naming_both() -> None:
    with pytest.raises(CnnoptError, match="outputs 5 classes but dataset 'toy' has 10"):
        check_fits_data(user_archs.five_outputs(in_channels=1, num_classes=10), _data(1, 16, 10))


def test_every_users_architecture_fits_its_own_data() -> None:
    """All 13 kinds (tuple and dict outputs included) at 1 and 3 channels."""
    for channels in (1, 3):
        for name, model in user_archs.build_all(in_channels=channels, num_classes=10).items():
            try:
                check_fits_data(model, _data(channels, 16, 10))
            except CnnoptError as exc:
                raise AssertionError(f"{name} at {channels} channel(s): {exc}") from None


def test_tuple_and_dict_outputs_are_checked_on_their_prediction() -> None:
    models = user_archs.build_all(in_channels=1, num_classes=10)
    with pytest.raises(CnnoptError, match="outputs 10 classes but dataset 'toy' has 7"):
        check_fits_data(models["dict_output"], _data(1, 16, 7))
    with pytest.raises(CnnoptError, match="outputs 10 classes but dataset 'toy' has 7"):
        check_fits_data(models["tuple_output"], _data(1, 16, 7))
    # The check reads the same prediction every stage reads (cnnopt.outputs' rule) ...
    scores = torch.zeros(2, 3)
    assert select_output((scores, torch.zeros(2, 8))) is scores
    assert select_output({"aux": torch.zeros(2, 8), "logits": scores}) is scores
    features = torch.zeros(2, 8)
    assert select_output((scores, features), 1) is features
    assert select_output({"logits": scores, "aux": features}, "aux") is features
    # ... including a choice the model carries: its 48 features are not 10 class scores.
    tuple_model = set_output(user_archs.build_all()["tuple_output"], 1)
    with pytest.raises(CnnoptError, match="outputs 48 classes but dataset 'toy' has 10"):
        check_fits_data(tuple_model, _data(1, 16, 10))


def test_probe_leaves_mode_gradients_and_global_rng_alone() -> None:
    model = _net(1, 10).train()
    before = torch.random.get_rng_state()
    out = probe(model, (1, 8, 8))
    assert torch.equal(before, torch.random.get_rng_state())
    assert model.training and not out.requires_grad
    assert float(model[1].num_batches_tracked) == 0  # eval mode: no BN statistics updated


def test_a_real_failure_names_the_shape_and_the_models_error() -> None:
    with pytest.raises(CnnoptError) as info:
        check_runs_on(_net(1, 10), (3, 16, 16))
    line = str(info.value)
    assert "failed on an input batch of shape 2x3x16x16" in line
    assert "expected input[2, 3, 16, 16] to have 1 channels" in line
    assert "first convolution takes 1-channel input: use --input 1x16x16" in line


@settings(max_examples=25, deadline=None)
@given(
    channels=st.integers(1, 4),
    size=st.integers(4, 20),
    classes=st.integers(2, 12),
    outputs=st.integers(2, 12),
    wrong_channels=st.integers(1, 4),
)
def test_fits_exactly_when_the_model_runs_and_outputs_match(
    channels: int, size: int, classes: int, outputs: int, wrong_channels: int
) -> None:
    data = _data(wrong_channels, size, classes)
    model = _net(channels, outputs)
    if channels != wrong_channels:
        with pytest.raises(CnnoptError, match=f"takes {channels}-channel input"):
            check_fits_data(model, data)
    elif outputs != classes:
        with pytest.raises(CnnoptError, match=f"outputs {outputs} classes but .* has {classes}"):
            check_fits_data(model, data)
    else:
        check_fits_data(model, data)
