"""CIFAR-10 and CIFAR-100 from the official "python version" pickle batches (or their .tar.gz).

The batches ARE pickle files, and unpickling runs arbitrary code named by the file. So they are
read with an Unpickler that resolves only the numpy names an array needs (plus _codecs.encode,
see below) and refuses every other global: a tampered batch fails with a CnnoptError instead of
executing anything.
"""

from __future__ import annotations

import functools
import os
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnopt.data import download, locate
from cnnopt.data.registry import Official, file_key, register_dataset
from cnnopt.errors import CnnoptError
from cnnopt.fileio import ensure_dir, safe_join, write_bytes

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),  # numpy >= 2 pickles
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Python 3 writes bytes at pickle protocol 2 as _codecs.encode(text, "latin1"): a pure
    # str -> bytes function (torch's weights_only unpickler allows it too), so re-pickled
    # copies of the batches load as well as the Python 2 originals.
    ("_codecs", "encode"),
}
_LAYOUT = {
    # name: (folder inside the archive, archive, train batches, test batch, meta, label key,
    #        names key, classes)
    "cifar10": ("cifar-10-batches-py", "cifar-10-python.tar.gz",
                tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta",
                "labels", "label_names", 10),
    "cifar100": ("cifar-100-python", "cifar-100-python.tar.gz", ("train",), "test", "meta",
                 "fine_labels", "fine_label_names", 100),
}  # fmt: skip
_HINT = (
    "put the extracted '{folder}' folder or '{archive}' in a folder and pass it with --data-dir "
    "(or set $CNNOPT_DATA), or run `cnnopt data fetch {name}` with network access"
)


class _Refused(pickle.UnpicklingError):
    """A global outside the allow-list: the file tries to build (or run) something else."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise _Refused(f"refusing to load {module}.{name}")


def load_pickle(path: Path) -> Any:
    """Unpickle a CIFAR batch allowing only numpy arrays (bytes keys from Python 2 kept)."""
    try:
        with path.open("rb") as handle:
            return _RestrictedUnpickler(handle, encoding="bytes").load()
    except _Refused as exc:
        raise CnnoptError(
            f"{path} is not a plain CIFAR batch: {exc}",
            "only use CIFAR files from the official site; delete this one and fetch it again",
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            OSError) as exc:  # fmt: skip
        raise CnnoptError(
            f"{path} is truncated or not a CIFAR pickle batch ({type(exc).__name__}: {exc})",
            "delete it and run `cnnopt data fetch` again",
        ) from None


def _field(batch: Any, key: str, path: Path) -> Any:
    if isinstance(batch, dict):
        for candidate in (key, key.encode()):
            if candidate in batch:
                return batch[candidate]
    raise CnnoptError(f"{path} has no {key!r} entry", "it is not a CIFAR python batch")


@functools.lru_cache(maxsize=8)
def _decode_batch(
    key: tuple[str, int, int], label_key: str, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    path = Path(key[0])
    batch = load_pickle(path)
    data = np.asarray(_field(batch, "data", path))
    labels = np.asarray(_field(batch, label_key, path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise CnnoptError(
            f"{path}: 'data' must be N x 3072 uint8, got {data.shape} {data.dtype}",
            "the batch is damaged; fetch the dataset again",
        )
    if labels.shape != (len(data),):
        raise CnnoptError(
            f"{path}: {len(data)} images but {labels.size} labels", "fetch the dataset again"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CnnoptError(
            f"{path}: label {int(labels.max())} outside 0..{num_classes - 1}",
            "this batch belongs to another dataset (CIFAR-10 vs CIFAR-100?)",
        )
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels)


def _read_split(folder: Path, names: tuple[str, ...], label_key: str, n: int) -> tuple:
    parts = [_decode_batch(file_key(folder / name), label_key, n) for name in names]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _class_names(folder: Path, meta: str, names_key: str, n: int) -> list[str]:
    path = folder / meta
    if not path.is_file():
        return [str(i) for i in range(n)]
    raw = _field(load_pickle(path), names_key, path)
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in raw]
    if len(names) != n:
        raise CnnoptError(f"{path} names {len(names)} classes, expected {n}", "fetch it again")
    return names


def extract_archive(archive: Path, destination: Path, folder: str) -> Path:
    """Extract only the regular files under `folder/` from the archive, each path checked.

    Links and devices are skipped and a member that would land outside `destination` fails the
    whole extraction, so a hostile archive cannot write anywhere else.
    """
    ensure_dir(destination)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if not member.isfile() or not member.name.startswith(folder + "/"):
                    continue
                try:
                    target = safe_join(destination, member.name)
                except CnnoptError:
                    raise CnnoptError(
                        f"{archive} holds {member.name!r}, a path outside the extraction folder",
                        "the archive was tampered with; delete it and fetch the dataset again",
                    ) from None
                source = tar.extractfile(member)
                if source is not None:
                    write_bytes(target, source.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CnnoptError(
            f"{archive} is not a readable .tar.gz ({exc})", "delete it and fetch it again"
        ) from None
    return destination / folder


def _find(name: str, root: str | os.PathLike | None) -> Path:
    folder, archive, train, test, *_ = _LAYOUT[name]

    def resolve(directory: Path) -> dict[str, Path] | None:
        for candidate in (directory, directory / folder):
            if all((candidate / f).is_file() for f in (*train, test)):
                return {"folder": candidate}
        if (directory / archive).is_file():
            return {"archive": directory / archive}
        return None

    found = locate.locate(name, root, resolve)
    hint = _HINT.format(folder=folder, archive=archive, name=name)
    if found is None:
        target = locate.download_dir(name, root)
        download.fetch_dataset(name, target, locate.searched_text(name, root), hint)
        found = {"archive": target / archive}
    if "folder" in found:
        return found["folder"]
    archive_path = found["archive"]
    destination = archive_path.parent
    if not os.access(destination, os.W_OK):
        destination = locate.cache_dir(name)
    if (destination / folder / test).is_file():
        return destination / folder  # extracted on an earlier run
    return extract_archive(archive_path, destination, folder)


def _load(name: str, root: str | os.PathLike | None) -> Official:
    _, _, train, test, meta, label_key, names_key, n = _LAYOUT[name]
    folder = _find(name, root)
    train_images, train_labels = _read_split(folder, train, label_key, n)
    test_images, test_labels = _read_split(folder, (test,), label_key, n)
    classes = _class_names(folder, meta, names_key, n)
    return Official(train_images, train_labels, test_images, test_labels, classes, str(folder))


@register_dataset(
    "cifar10",
    "32x32 colour photos, 10 classes, 50,000 train / 10,000 test",
    stats=((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    fetch_hint=_HINT.format(folder="cifar-10-batches-py", archive="cifar-10-python.tar.gz",
                            name="cifar10"),
)  # fmt: skip
def load_cifar10(root: str | os.PathLike | None = None) -> Official:
    return _load("cifar10", root)


@register_dataset(
    "cifar100",
    "32x32 colour photos, 100 fine classes, 50,000 train / 10,000 test",
    stats=((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    fetch_hint=_HINT.format(folder="cifar-100-python", archive="cifar-100-python.tar.gz",
                            name="cifar100"),
)  # fmt: skip
def load_cifar100(root: str | os.PathLike | None = None) -> Official:
    return _load("cifar100", root)
