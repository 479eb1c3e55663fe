"""The IDX format of MNIST and Fashion-MNIST: a big-endian header, then raw unsigned bytes.

Every way a file can be wrong (not IDX, wrong kind, truncated, broken gzip, label out of range)
becomes a CnnoptError naming the file, because the usual symptom otherwise is a reshape error
deep inside numpy that says nothing about which download went bad.
"""

from __future__ import annotations

import functools
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from cnnopt.data.registry import file_key
from cnnopt.errors import CnnoptError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: N x H x W
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: N
_REDOWNLOAD = "delete it and run `cnnopt data fetch` again, or pass a good copy with --data-dir"


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic (whatever its name)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CnnoptError(
            f"cannot read {path}: {exc.strerror}", "check the file permissions"
        ) from None
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise CnnoptError(
            f"{path} is a truncated or corrupt gzip file ({exc})", _REDOWNLOAD
        ) from None


def parse_idx(data: bytes, magic: int, path: Path) -> np.ndarray:
    """Check the header against `magic` and the file length, then view the payload as uint8."""
    if len(data) < 4:
        raise CnnoptError(f"{path} is too short to be an IDX file ({len(data)} bytes)", _REDOWNLOAD)
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        kind = "image" if magic == IMAGES_MAGIC else "label"
        raise CnnoptError(
            f"{path} is not an IDX {kind} file: magic number 0x{found:08x}, expected 0x{magic:08x}",
            "check that the images and labels files are not swapped, or " + _REDOWNLOAD,
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CnnoptError(f"{path} is truncated inside its header", _REDOWNLOAD)
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if any(d == 0 for d in dims):
        raise CnnoptError(f"{path} declares an empty dimension {dims}", _REDOWNLOAD)
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise CnnoptError(
            f"{path} is {state}: {len(data)} bytes, the header {dims} needs {expected}",
            _REDOWNLOAD,
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


@functools.lru_cache(maxsize=8)
def _decode(key: tuple[str, int, int], magic: int) -> torch.Tensor:
    path = Path(key[0])
    array = parse_idx(read_bytes(path), magic, path)
    return torch.from_numpy(array.copy())


def read_images(path: Path) -> torch.Tensor:
    """(N, 1, H, W) uint8 images; decoded once per process and file version (cached)."""
    return _decode(file_key(path), IMAGES_MAGIC).unsqueeze(1)


def read_labels(path: Path, num_classes: int = 10) -> torch.Tensor:
    """(N,) int64 labels, each checked to be below `num_classes`."""
    labels = _decode(file_key(path), LABELS_MAGIC).long()
    if len(labels) and int(labels.max()) >= num_classes:
        raise CnnoptError(
            f"{path} holds label {int(labels.max())} but the dataset has {num_classes} classes",
            "this is not a label file of this dataset; " + _REDOWNLOAD,
        )
    return labels


def read_pair(
    images_path: Path, labels_path: Path, num_classes: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels that belong together (same count), as (images, labels)."""
    images = read_images(images_path)
    labels = read_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise CnnoptError(
            f"{images_path.name} has {len(images)} images but {labels_path.name} has "
            f"{len(labels)} labels",
            "the files come from different datasets or splits; " + _REDOWNLOAD,
        )
    return images, labels
