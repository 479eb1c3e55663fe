"""Fixtures for the runtime tests (helpers live in runtime_helpers.py)."""

from __future__ import annotations

import copy

import pytest
import torch
from runtime_helpers import trained_tiny_resnet
from torch import nn

from cnnopt.data.base import TensorData


@pytest.fixture(scope="session")
def trained() -> tuple[nn.Module, TensorData, TensorData]:
    return trained_tiny_resnet()


@pytest.fixture
def trained_net(trained) -> nn.Module:
    """A private copy per test: transforms and predictors may change a model."""
    return copy.deepcopy(trained[0]).eval()


@pytest.fixture
def val_inputs(trained) -> torch.Tensor:
    return trained[2].tensors()[0][:64]


@pytest.fixture
def example() -> torch.Tensor:
    return torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
