"""The IDX file format (MNIST, Fashion-MNIST) as test fixtures write it: names and bytes.

Shared by the dataset tests (valid files) and the bad-input tests (files broken on purpose).
"""

from __future__ import annotations

import struct

import numpy as np

IMAGES, LABELS = 0x803, 0x801  # magic numbers: uint8 data with 3 and 1 dimensions
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()
