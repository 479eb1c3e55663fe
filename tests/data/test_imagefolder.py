"""Folders of PNGs written by Pillow: classes, sizes, channels, splits and corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnopt.data import load_dataset
from cnnopt.errors import CnnoptError

CLASSES = ("cat", "dog", "eel")


def _write(folder: Path, per_class: int, size: tuple[int, int], mode: str = "RGB") -> None:
    rng = np.random.default_rng(1)
    for index, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            pixels[0, 0] = index * 100  # marks the class in the first pixel
            Image.fromarray(pixels, mode).save(folder / name / f"{i}.png")


def test_flat_folder_gets_seeded_test_split_and_rgb(tmp_path: Path) -> None:
    _write(tmp_path, per_class=5, size=(12, 10))
    trainval = load_dataset("imagefolder", "trainval", root=tmp_path)
    test = load_dataset("imagefolder", "test", root=tmp_path)
    assert trainval.classes == list(CLASSES) and len(trainval) + len(test) == 15
    assert len(test) == 3 and trainval.input_shape == (3, 10, 12)  # default: first image's size
    first_pixel = trainval.images[:, 0, 0, 0].long()
    assert (first_pixel == trainval.labels * 100).all()  # labels follow the folders
    assert trainval.mean == test.mean and len(trainval.mean) == 3


def test_train_test_subfolders_resize_and_gray(tmp_path: Path) -> None:
    _write(tmp_path / "train", per_class=4, size=(20, 20), mode="L")
    _write(tmp_path / "test", per_class=2, size=(30, 30), mode="L")
    test = load_dataset("imagefolder", "test", root=tmp_path, size=16)
    assert test.input_shape == (1, 16, 16) and len(test) == 6  # all gray -> 1 channel
    rgb = load_dataset("imagefolder", "trainval", root=tmp_path, size=(8, 12), channels=3)
    assert rgb.input_shape == (3, 8, 12) and len(rgb) == 12


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path, per_class=3, size=(8, 8))
    bad = tmp_path / "dog" / "1.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(CnnoptError, match=r"dog/1\.png"):
        load_dataset("imagefolder", "train", root=tmp_path)


@pytest.mark.parametrize(
    ("root_kind", "options", "words"),
    [
        ("none", {}, "--data-dir"),
        ("missing", {}, "does not exist"),
        ("empty", {}, "no class sub-folders"),
        ("ok", {"channels": 2}, "channels must be 1 or 3"),
        ("ok", {"size": 0}, "size must be"),
        ("ok", {"test_fraction": 1.5}, "test_fraction"),
        ("ok", {"colour": 1}, "no option 'colour'"),
    ],
)
def test_bad_root_or_options(tmp_path: Path, root_kind: str, options: dict, words: str) -> None:
    _write(tmp_path / "ok", per_class=2, size=(8, 8))
    (tmp_path / "empty").mkdir()
    root = None if root_kind == "none" else tmp_path / root_kind
    with pytest.raises(CnnoptError, match=words):
        load_dataset("imagefolder", "train", root=root, **options)
