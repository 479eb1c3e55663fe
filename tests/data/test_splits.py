"""Splits are deterministic, disjoint and complete; statistics always come from training data."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.data import SPLITS, channel_stats, list_datasets, load_dataset
from cnnopt.errors import CnnoptError


def _ids(data) -> set[bytes]:
    # synthetic images are random, so each sample's bytes identify it
    return {bytes(img.numpy().tobytes()) for img in data.images}


def test_registry_lists_every_source() -> None:
    assert set(list_datasets()) >= {"fashion-mnist", "mnist", "cifar10", "cifar100", "digits",
                                    "imagefolder", "synthetic"}  # fmt: skip
    assert list_datasets("*mnist") == ["fashion-mnist", "mnist"]


@settings(max_examples=8, deadline=None)
@given(val_fraction=st.floats(0.05, 0.5), size=st.integers(20, 200))
def test_train_val_partition_trainval(val_fraction: float, size: int) -> None:
    options = {"size": size, "shape": (1, 4, 4), "val_fraction": val_fraction}
    train = load_dataset("synthetic", "train", **options)
    val = load_dataset("synthetic", "val", **options)
    trainval = load_dataset("synthetic", "trainval", **options)
    assert len(train) + len(val) == len(trainval) == size
    assert _ids(train).isdisjoint(_ids(val))
    assert _ids(train) | _ids(val) == _ids(trainval)
    again = load_dataset("synthetic", "val", **options)
    assert torch.equal(again.images, val.images)  # same samples on every call


def test_all_splits_share_training_statistics() -> None:
    splits = {s: load_dataset("digits", s) for s in SPLITS}
    expected = channel_stats(splits["trainval"].images)
    for split, data in splits.items():
        assert data.mean == pytest.approx(expected[0]) and data.std == pytest.approx(expected[1])
        assert data.extra["split"] == split and data.name == "digits"
    assert channel_stats(splits["test"].images) != expected  # test's own stats are not used


def test_digits_sizes_and_fixed_test_split() -> None:
    default = load_dataset("digits", "test")
    assert default.input_shape == (1, 16, 16) and len(default) == 359
    native = load_dataset("digits", "test", size=8)
    assert native.input_shape == (1, 8, 8) and int(native.images.max()) == 255
    assert torch.equal(native.labels, default.labels)  # size does not change the split
    assert len(load_dataset("digits", "trainval", size=28)) == 1797 - 359


def test_synthetic_shape_classes_and_seed() -> None:
    data = load_dataset("synthetic", "test", shape="2x5x7", num_classes=3, size=40, seed=3)
    assert data.input_shape == (2, 5, 7) and data.num_classes == 3 and len(data) == 10
    other = load_dataset("synthetic", "test", shape="2x5x7", num_classes=3, size=40, seed=4)
    assert not torch.equal(data.images, other.images)


@pytest.mark.parametrize(
    ("name", "split", "options", "words"),
    [
        ("nope", "train", {}, "unknown dataset"),
        ("digits", "validation", {}, "unknown split"),
        ("digits", "train", {"size": "big"}, "size must be"),
        ("synthetic", "train", {"shape": (3, 0, 4)}, "shape must be"),
        ("synthetic", "train", {"num_classes": 1}, "num_classes"),
        ("synthetic", "train", {"size": 10**7, "shape": (3, 224, 224)}, "GiB"),
        ("mnist", "train", {"size": 28}, "no option 'size'"),
    ],
)
def test_bad_requests_raise_with_hint(name: str, split: str, options: dict, words: str) -> None:
    with pytest.raises(CnnoptError, match=words) as info:
        load_dataset(name, split, **options)
    assert info.value.hint
