"""MNIST and Fashion-MNIST: 28x28 grayscale, 60,000 training and 10,000 test images in IDX files.

Files are found in the usual places (see `locate.py`), raw or gzipped, and downloaded with
checksum verification only when no copy exists. Normalization uses the published training-set
statistics, so val and test are standardized exactly like train.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnopt.data import download, idx, locate
from cnnopt.data.registry import Official, register_dataset

# logical file -> accepted spellings (upstream names, gzipped or not, and Kaggle's dotted ones)
_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                     "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz",
                     "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz",
                    "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz",
                    "t10k-labels.idx1-ubyte"),
}  # fmt: skip

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
DIGIT_CLASSES = [str(d) for d in range(10)]

_FETCH_HINT = (
    "put the four IDX files (.gz or raw) in a folder and pass it with --data-dir "
    "(or set $CNNOPT_DATA), or run `cnnopt data fetch {name}` with network access"
)
_FASHION_HINT = "install them with `apt install dataset-fashion-mnist`, or " + _FETCH_HINT


def _resolve(directory: Path) -> dict[str, Path] | None:
    found = {key: locate.find_file(directory, names) for key, names in _FILES.items()}
    return None if any(path is None for path in found.values()) else found  # type: ignore[return-value]


def find_or_fetch(name: str, root: str | os.PathLike | None, hint: str) -> dict[str, Path]:
    """The four IDX files of `name`: located, or downloaded into the cache when missing."""
    found = locate.locate(name, root, _resolve)
    if found is None:
        target = locate.download_dir(name, root)
        download.fetch_dataset(name, target, locate.searched_text(name, root), hint)
        found = _resolve(target)
        assert found is not None, "a verified download always yields the four files"
    return found


def _load(name: str, root: str | os.PathLike | None, classes: list[str], hint: str) -> Official:
    files = find_or_fetch(name, root, hint.format(name=name))
    train_images, train_labels = idx.read_pair(files["train_images"], files["train_labels"])
    test_images, test_labels = idx.read_pair(files["test_images"], files["test_labels"])
    source = str(files["train_images"].parent)
    return Official(train_images, train_labels, test_images, test_labels, list(classes), source)


@register_dataset(
    "fashion-mnist",
    "Zalando's 28x28 grayscale clothing images, 10 classes, 60,000 train / 10,000 test",
    stats=((0.2860,), (0.3530,)),
    fetch_hint=_FASHION_HINT.format(name="fashion-mnist"),
)
def load_fashion_mnist(root: str | os.PathLike | None = None) -> Official:
    return _load("fashion-mnist", root, FASHION_CLASSES, _FASHION_HINT)


@register_dataset(
    "mnist",
    "LeCun's 28x28 grayscale handwritten digits, 10 classes, 60,000 train / 10,000 test",
    stats=((0.1307,), (0.3081,)),
    fetch_hint=_FETCH_HINT.format(name="mnist"),
)
def load_mnist(root: str | os.PathLike | None = None) -> Official:
    return _load("mnist", root, DIGIT_CLASSES, _FETCH_HINT)
