"""Small real data and models for the training tests: sklearn's 8x8 digits, fmnist_net."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from cnnopt.data.base import TensorData, channel_stats, split_train_val
from cnnopt.models import create_model


def digits_data(n: int | None = None) -> TensorData:
    digits = load_digits()
    images = torch.tensor(digits.images * (255 / 16), dtype=torch.uint8).unsqueeze(1)
    labels = torch.tensor(digits.target)
    if n is not None:
        images, labels = images[:n], labels[:n]
    mean, std = channel_stats(images)
    return TensorData(images, labels, [str(i) for i in range(10)], mean, std, "digits")


@pytest.fixture(scope="session")
def digits() -> tuple[TensorData, TensorData]:
    return split_train_val(digits_data(), val_fraction=0.2)


@pytest.fixture(scope="session")
def small_digits() -> tuple[TensorData, TensorData]:
    train, val = split_train_val(digits_data(600), val_fraction=0.25)
    return train, val


def _tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("fmnist_net", num_classes=10, in_channels=1, width=0.34)


@pytest.fixture
def tiny_model():
    """A factory: tiny_model(seed) -> a fresh ~39k-parameter fmnist_net, same seed same init."""
    return _tiny_model
