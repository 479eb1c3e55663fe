"""MNIST-style IDX files: raw and gzipped load, and every corruption is a clear CnnoptError."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import IDX_NAMES, idx_bytes, make_mnist_dir, write_idx

from cnnopt.data import load_dataset
from cnnopt.errors import CnnoptError


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load_with_exact_pixels(tmp_path: Path, gz: bool) -> None:
    arrays = make_mnist_dir(tmp_path / "d", gz=gz)
    trainval = load_dataset("mnist", "trainval", root=tmp_path / "d")
    test = load_dataset("mnist", "test", root=tmp_path / "d")
    assert trainval.images.shape == (24, 1, 6, 6) and trainval.images.dtype == torch.uint8
    assert torch.equal(trainval.images[:, 0], torch.from_numpy(arrays["train_images"]))
    assert torch.equal(test.labels, torch.from_numpy(arrays["test_labels"]).long())
    assert trainval.mean == test.mean == (0.1307,)  # published train statistics everywhere
    assert trainval.classes == [str(d) for d in range(10)]


def test_root_subfolder_named_after_dataset_is_found(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path / "fashion-mnist")
    data = load_dataset("fashion-mnist", "test", root=tmp_path)
    assert len(data) == 8 and data.classes[0] == "T-shirt/top"


def test_cnnopt_data_env_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_mnist_dir(tmp_path / "env" / "mnist")
    monkeypatch.setenv("CNNOPT_DATA", str(tmp_path / "env"))
    assert load_dataset("mnist", "test").extra["source"] == str(tmp_path / "env" / "mnist")


def _break(directory: Path, key: str, data: bytes) -> None:
    (directory / IDX_NAMES[key]).write_bytes(data)


def _images(n: int = 24) -> np.ndarray:
    return np.zeros((n, 6, 6), dtype=np.uint8)


CORRUPTIONS = {
    "bad magic": ("train_images", lambda: b"\x00\x00\x08\x02" + idx_bytes(_images(), 0x803)[4:],
                  "magic number"),
    "labels swapped": ("train_images", lambda: idx_bytes(np.zeros(24, np.uint8), 0x801),
                       "not an IDX image file"),
    "truncated": ("train_images", lambda: idx_bytes(_images(), 0x803)[:-5], "truncated"),
    "too long": ("train_images", lambda: idx_bytes(_images(), 0x803) + b"x", "longer"),
    "header cut": ("train_images", lambda: idx_bytes(_images(), 0x803)[:9], "header"),
    "empty file": ("train_labels", lambda: b"", "too short"),
    "truncated gzip": ("train_images",
                       lambda: gzip.compress(idx_bytes(_images(), 0x803))[:-20], "gzip"),
    "corrupt gzip": ("train_labels", lambda: b"\x1f\x8b" + b"garbage" * 10, "gzip"),
    "label count": ("train_labels", lambda: idx_bytes(np.zeros(23, np.uint8), 0x801), "23 labels"),
    "label value": ("test_labels", lambda: idx_bytes(np.full(8, 10, np.uint8), 0x801),
                    "label 10"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_idx_raises_clear_error(tmp_path: Path, case: str) -> None:
    key, make, words = CORRUPTIONS[case]
    make_mnist_dir(tmp_path)
    _break(tmp_path, key, make())
    split = "test" if key.startswith("test") else "trainval"
    with pytest.raises(CnnoptError) as info:
        load_dataset("mnist", split, root=tmp_path)
    assert words in info.value.message
    assert IDX_NAMES[key] in info.value.message  # names the bad file
    assert info.value.hint


def test_missing_fashion_mnist_offline_names_apt_and_data_dir(tmp_path: Path) -> None:
    with pytest.raises(CnnoptError) as info:
        load_dataset("fashion-mnist", "train", root=tmp_path / "nowhere")
    text = str(info.value)
    assert "apt install dataset-fashion-mnist" in text and "--data-dir" in text
    assert str(tmp_path / "nowhere") in text  # says where it looked


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path)
    images = tmp_path / IDX_NAMES["test_images"]
    images.write_bytes(gzip.compress(images.read_bytes()))  # gzipped, but no .gz suffix
    assert load_dataset("mnist", "test", root=tmp_path).images.shape == (8, 1, 6, 6)


def test_decoded_arrays_are_cached_per_file(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path)
    first = load_dataset("mnist", "trainval", root=tmp_path)
    second = load_dataset("mnist", "trainval", root=tmp_path)
    assert first.images.data_ptr() == second.images.data_ptr()  # decoded once
    write_idx(tmp_path / IDX_NAMES["train_images"], np.ones((24, 6, 6), np.uint8) * 7, 0x803)
    assert int(load_dataset("mnist", "trainval", root=tmp_path).images.max()) == 7  # rewritten
