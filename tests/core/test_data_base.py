"""The in-memory dataset and batch iterator everything else stands on."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.data.base import TensorData, channel_stats, split_train_val
from cnnopt.data.loader import iterate_batches, num_batches
from cnnopt.errors import CnnoptError


def make_data(n: int = 50, c: int = 1) -> TensorData:
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, c, 6, 6), dtype=torch.uint8, generator=gen)
    labels = torch.arange(n) % 3
    return TensorData(images, labels, ["a", "b", "c"], (0.5,) * c, (0.25,) * c, "toy")


def test_normalize_uses_statistics():
    data = make_data()
    x, y = data.tensors()
    expected = (data.images.float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(x, expected)
    assert y.dtype == torch.int64 and data.input_shape == (1, 6, 6) and data.num_classes == 3


def test_bad_shapes_and_empty_are_clear_errors():
    with pytest.raises(CnnoptError, match="N x C x H x W"):
        TensorData(torch.zeros(4, 6, 6), torch.zeros(4), ["a"], (0.0,), (1.0,), "x")
    with pytest.raises(CnnoptError, match="4 images but 3 labels"):
        TensorData(torch.zeros(4, 1, 6, 6), torch.zeros(3), ["a"], (0.0,), (1.0,), "x")
    with pytest.raises(CnnoptError, match="empty"):
        TensorData(torch.zeros(0, 1, 6, 6), torch.zeros(0), ["a"], (0.0,), (1.0,), "x")


def test_split_is_deterministic_disjoint_and_complete():
    data = make_data(120)
    train_a, val_a = split_train_val(data, 0.25)
    train_b, val_b = split_train_val(data, 0.25)
    assert torch.equal(val_a.images, val_b.images) and torch.equal(train_a.labels, train_b.labels)
    assert len(val_a) == 30 and len(train_a) == 90
    rows = {tuple(img.flatten().tolist()) for img in torch.cat([train_a.images, val_a.images])}
    assert rows == {tuple(img.flatten().tolist()) for img in data.images}


def test_split_rejects_bad_fraction():
    with pytest.raises(CnnoptError, match="between 0 and 1"):
        split_train_val(make_data(), 1.0)


def test_channel_stats_match_torch():
    data = make_data(40, c=3)
    mean, std = channel_stats(data.images)
    x = data.images.double() / 255
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(
        torch.tensor(std, dtype=torch.float64),
        x.transpose(0, 1).reshape(3, -1).std(1, correction=0),
    )


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 70), batch=st.integers(1, 32), shuffle=st.booleans(), drop=st.booleans())
def test_batches_cover_every_sample_once(n, batch, shuffle, drop):
    data = make_data(n)
    batches = list(iterate_batches(data, batch, shuffle=shuffle, drop_last=drop))
    assert len(batches) == num_batches(data, batch, drop_last=drop)
    seen = torch.cat([y for _, y in batches]) if batches else torch.empty(0)
    if not drop or n < batch:
        assert len(seen) == n
        assert sorted(seen.tolist()) == sorted(data.labels.tolist())
    else:
        assert len(seen) == n - n % batch
    assert all(x.dtype == torch.float32 and x.shape[1:] == (1, 6, 6) for x, _ in batches)


def test_shuffle_is_seeded():
    data = make_data(40)
    first = [
        y
        for _, y in iterate_batches(
            data, 8, shuffle=True, generator=torch.Generator().manual_seed(3)
        )
    ]
    second = [
        y
        for _, y in iterate_batches(
            data, 8, shuffle=True, generator=torch.Generator().manual_seed(3)
        )
    ]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
