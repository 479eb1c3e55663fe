"""Your own images: a folder with one sub-folder per class, read with Pillow into memory.

Layout: root/<class>/*.png (a seeded test split is held out), or root/train/<class>/... and
root/test/<class>/... (the given split is used). Every image is resized to one `size` (default:
the first image's size) and converted to `channels` (default: RGB unless all images are
grayscale), because a batch tensor needs one shape.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from cnnopt.data import options as opt
from cnnopt.data.base import SPLIT_SEED
from cnnopt.data.registry import Official, register_dataset
from cnnopt.errors import CnnoptError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_PROGRESS_FROM = 500  # images; below this the bar would only flicker


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(folder: Path, classes: list[str]) -> list[tuple[Path, int]]:
    samples = []
    for index, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for path in sorted(class_dir.rglob("*")):
            if path.suffix.lower() in EXTENSIONS and path.is_file():
                samples.append((path, index))
    return samples


def _open(path: Path, decode: bool = True):
    """Open (and by default fully decode) an image; any failure names the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        if decode:
            image.load()
        return image
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CnnoptError(
            f"cannot read image {path}: {exc}", "delete or replace the corrupt file"
        ) from None


def _decode(
    samples: list[tuple[Path, int]], size: tuple[int, int], channels: int, label: str
) -> torch.Tensor:
    from PIL import Image
    from rich.console import Console
    from rich.progress import track

    mode = "L" if channels == 1 else "RGB"
    out = torch.empty((len(samples), channels, *size), dtype=torch.uint8)
    items = enumerate(samples)
    if len(samples) >= _PROGRESS_FROM:
        items = track(items, total=len(samples), description=label, console=Console(stderr=True),
                      transient=True)  # fmt: skip
    for i, (path, _) in items:
        image = _open(path).convert(mode)
        if image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8).reshape(size[0], size[1], channels)
        out[i] = torch.from_numpy(array.copy()).permute(2, 0, 1)
    return out


@functools.lru_cache(maxsize=4)
def _load_cached(
    root: str, size: tuple[int, int] | None, channels: int | None, test_fraction: float
) -> Official:
    folder = Path(root)
    split_dirs = (folder / "train").is_dir() and (folder / "test").is_dir()
    train_dir = folder / "train" if split_dirs else folder
    classes = [p.name for p in _class_dirs(train_dir)]
    if not classes:
        raise CnnoptError(
            f"{train_dir} has no class sub-folders",
            "arrange images as ROOT/<class>/<image>.png (optionally ROOT/train and ROOT/test)",
        )
    train = _scan(train_dir, classes)
    if split_dirs:
        extra = sorted({p.name for p in _class_dirs(folder / "test")} - set(classes))
        if extra:
            raise CnnoptError(
                f"{folder / 'test'} has classes missing from train: {', '.join(extra)}",
                "every test class needs a folder under train/ too",
            )
        test = _scan(folder / "test", classes)
    else:
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(SPLIT_SEED + 2))
        n_test = round(len(train) * test_fraction)
        test = [train[i] for i in sorted(perm[:n_test].tolist())]
        train = [train[i] for i in sorted(perm[n_test:].tolist())]
    if not train or not test:
        raise CnnoptError(
            f"{folder}: {len(train)} training and {len(test)} test images found",
            f"add images with one of the extensions {', '.join(sorted(EXTENSIONS))}",
        )
    first = _open(train[0][0])
    size = size or (first.size[1], first.size[0])
    if channels is None:
        channels = (
            1 if all(_open(p, decode=False).mode in GRAY_MODES for p, _ in train + test) else 3
        )
    images = _decode(train, size, channels, "reading train images")
    test_images = _decode(test, size, channels, "reading test images")
    labels = torch.tensor([c for _, c in train], dtype=torch.long)
    test_labels = torch.tensor([c for _, c in test], dtype=torch.long)
    return Official(images, labels, test_images, test_labels, classes, str(folder))


@register_dataset(
    "imagefolder",
    "your images: ROOT/<class>/*.png (or ROOT/train, ROOT/test); needs --data-dir",
    options=("size", "channels", "test_fraction"),
    fetch_hint="pass the folder with --data-dir (root=...)",
    size_option="size",
)
def load_imagefolder(
    root: str | os.PathLike | None = None,
    size: object = None,
    channels: object = None,
    test_fraction: object = 0.2,
) -> Official:
    if root is None:
        raise CnnoptError(
            "dataset 'imagefolder' needs the folder of images", "pass it with --data-dir DIR"
        )
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise CnnoptError(f"image folder {folder} does not exist", "check the --data-dir path")
    if channels is not None and channels not in (1, 3):
        raise CnnoptError(
            f"dataset 'imagefolder': channels must be 1 or 3, got {channels!r}",
            "use channels=1 for grayscale or channels=3 for RGB",
        )
    return _load_cached(
        str(folder.resolve()),
        opt.image_size(size, "imagefolder"),
        channels,  # type: ignore[arg-type]
        opt.fraction(test_fraction, "test_fraction", "imagefolder"),
    )
