"""Batch augmentation: shape-preserving, seeded, and equal to a per-sample reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnopt.data.augment import Augment, cutout, default_augment, random_crop, random_hflip
from cnnopt.errors import CnnoptError


def _batch(n: int = 16, c: int = 2, h: int = 9, w: int = 7) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(5))


@settings(max_examples=10, deadline=None)
@given(pad=st.integers(0, 4), flip=st.booleans(), cut=st.integers(0, 6), seed=st.integers(0, 99))
def test_shape_kept_and_deterministic(pad: int, flip: bool, cut: int, seed: int) -> None:
    augment = Augment(crop_padding=pad, hflip=flip, cutout=cut)
    x = _batch()
    first = augment(x, torch.Generator().manual_seed(seed))
    second = augment(x, torch.Generator().manual_seed(seed))
    assert first.shape == x.shape and torch.equal(first, second)


def test_crop_matches_per_sample_reference() -> None:
    x, pad = _batch(), 3
    out = random_crop(x, pad, torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(1)
    dy = torch.randint(0, 2 * pad + 1, (len(x),), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (len(x),), generator=gen)
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    for i in range(len(x)):
        window = padded[i, :, dy[i] : dy[i] + x.shape[2], dx[i] : dx[i] + x.shape[3]]
        assert torch.equal(out[i], window)
    assert not torch.equal(out, x)  # something moved


def test_flip_mirrors_only_chosen_samples() -> None:
    x = _batch(n=64)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(len(x))]
    kept = [torch.equal(out[i], x[i]) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 10 < sum(flipped) < 54  # about half


def test_cutout_zeroes_at_most_a_square_per_sample() -> None:
    x = _batch(n=32) + 10  # no zeros before
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (out == 0).all(dim=1).flatten(1).sum(dim=1)  # zeroed pixels per sample
    assert (zeros <= 16).all() and (zeros >= 4).all()  # clipped at borders, never empty
    assert torch.equal(out[out != 0], x[out != 0])


def test_defaults_per_dataset() -> None:
    assert default_augment("fashion-mnist") == Augment(crop_padding=2, hflip=True)
    assert default_augment("cifar10") == Augment(crop_padding=4, hflip=True)
    assert default_augment("digits") == Augment(crop_padding=1)
    assert default_augment("mnist").hflip is False
    assert default_augment("imagefolder") is None


@pytest.mark.parametrize("field", ["crop_padding", "cutout"])
def test_bad_config_and_input(field: str) -> None:
    with pytest.raises(CnnoptError, match=field):
        Augment(**{field: -1})
    with pytest.raises(CnnoptError, match="N x C x H x W"):
        Augment(hflip=True)(torch.zeros(3, 8, 8), torch.Generator())
