"""The real Fashion-MNIST from Debian's dataset-fashion-mnist package, when installed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnopt.data import iterate_batches, load_dataset, locate

SYSTEM = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not SYSTEM.is_dir(), reason=f"`apt install dataset-fashion-mnist` was not run: no {SYSTEM}"
)


def test_loads_60000_and_10000_with_published_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate, "SYSTEM_DATASETS", SYSTEM.parent)
    trainval = load_dataset("fashion-mnist", "trainval")
    test = load_dataset("fashion-mnist", "test")
    assert trainval.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert trainval.images.dtype == torch.uint8 and trainval.extra["source"] == str(SYSTEM)
    assert torch.bincount(test.labels).tolist() == [1000] * 10  # balanced official test set
    train, val = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "val")
    assert (len(train), len(val)) == (55000, 5000)
    x, y = next(iterate_batches(train.take(512), 256))
    assert x.shape == (256, 1, 28, 28) and abs(float(x.mean())) < 0.15  # normalized
    assert len(y) == 256
