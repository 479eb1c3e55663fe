"""Tiny on-disk datasets in every supported format, written byte by byte like the originals."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from idx_format import IDX_NAMES, idx_bytes


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool = False) -> Path:
    data = idx_bytes(array, magic)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_mnist_dir(
    directory: Path, n_train: int = 24, n_test: int = 8, size: int = 6, gz: bool = False
) -> dict[str, np.ndarray]:
    """Four IDX files with seeded pixels and labels 0..9; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for key, array in arrays.items():
        magic = 0x803 if key.endswith("images") else 0x801
        write_idx(directory / IDX_NAMES[key], array, magic, gz)
    return arrays


def cifar_batch(n: int, num_classes: int, seed: int, label_key: str = "labels") -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        label_key.encode(): [int(v) for v in rng.integers(0, num_classes, n)],
        b"batch_label": b"testing batch",
    }


def make_cifar10_dir(directory: Path, per_batch: int = 6) -> Path:
    folder = directory / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        dump(folder / f"data_batch_{i}", cifar_batch(per_batch, 10, i))
    dump(folder / "test_batch", cifar_batch(per_batch, 10, 99))
    dump(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    return folder


def dump(path: Path, obj: object) -> None:
    with path.open("wb") as handle:
        pickle.dump(obj, handle, protocol=2)
