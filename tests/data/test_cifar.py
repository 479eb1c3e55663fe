"""CIFAR pickle batches: loaded through a restricted unpickler, from folders or archives."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import cifar_batch, dump, make_cifar10_dir

from cnnopt.data import load_dataset
from cnnopt.data.cifar import load_pickle
from cnnopt.errors import CnnoptError


def test_cifar10_batches_load_in_chw_order(tmp_path: Path) -> None:
    folder = make_cifar10_dir(tmp_path)
    trainval = load_dataset("cifar10", "trainval", root=tmp_path)
    test = load_dataset("cifar10", "test", root=tmp_path)
    assert trainval.images.shape == (30, 3, 32, 32) and len(test) == 6
    first = pickle.loads((folder / "data_batch_1").read_bytes())
    assert torch.equal(trainval.images[0].flatten(), torch.from_numpy(first[b"data"][0]))
    assert trainval.labels[:6].tolist() == first[b"labels"]
    assert trainval.classes[:2] == ["c0", "c1"] and trainval.mean == test.mean
    assert len(trainval.mean) == 3


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    dump(folder / "train", cifar_batch(12, 100, 1, label_key="fine_labels"))
    dump(folder / "test", cifar_batch(4, 100, 2, label_key="fine_labels"))
    dump(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)]})
    data = load_dataset("cifar100", "trainval", root=tmp_path)
    assert data.num_classes == 100 and len(data) == 12 and data.classes[99] == "f99"


class Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload",
    [
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": Evil()},
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"p": Path("/etc")},
    ],
    ids=["os.system", "pathlib"],
)
def test_pickle_with_forbidden_class_is_refused(tmp_path: Path, payload: dict) -> None:
    folder = make_cifar10_dir(tmp_path)
    dump(folder / "data_batch_3", payload)
    with pytest.raises(CnnoptError, match="refusing to load"):
        load_dataset("cifar10", "trainval", root=tmp_path)


def test_numpy_arrays_are_allowed(tmp_path: Path) -> None:
    dump(tmp_path / "b", {"a": np.arange(6, dtype=np.int64).reshape(2, 3)})
    assert load_pickle(tmp_path / "b")["a"].sum() == 15


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (lambda good: good[: len(good) // 2], "truncated"),
        (lambda good: b"not a pickle at all", "truncated or not a CIFAR"),
        (lambda good: pickle.dumps({b"data": np.zeros((3, 100), np.uint8), b"labels": [0] * 3}),
         "N x 3072"),
        (lambda good: pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0]}),
         "3 images but 1 labels"),
        (lambda good: pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}),
         "label 10"),
        (lambda good: pickle.dumps({b"labels": [0]}), "no 'data'"),
    ],
    ids=["truncated", "garbage", "shape", "count", "label", "missing-key"],
)  # fmt: skip
def test_corrupt_batches_raise_clear_errors(tmp_path: Path, content, words: str) -> None:
    folder = make_cifar10_dir(tmp_path)
    batch = folder / "test_batch"
    batch.write_bytes(content(batch.read_bytes()))
    with pytest.raises(CnnoptError, match=words) as info:
        load_dataset("cifar10", "test", root=tmp_path)
    assert "test_batch" in info.value.message


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_archive_is_extracted_safely_once(tmp_path: Path) -> None:
    folder = make_cifar10_dir(tmp_path / "build")
    (tmp_path / "data").mkdir()
    archive = tmp_path / "data" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in folder.iterdir():
            tar.add(path, arcname=f"cifar-10-batches-py/{path.name}")
        link = tarfile.TarInfo("cifar-10-batches-py/link")  # links are never extracted
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    data = load_dataset("cifar10", "trainval", root=tmp_path / "data")
    extracted = tmp_path / "data" / "cifar-10-batches-py"
    assert len(data) == 30 and (extracted / "test_batch").is_file()
    assert not (extracted / "link").exists()
    archive.unlink()  # the extracted folder is found directly on the next load
    assert len(load_dataset("cifar10", "test", root=tmp_path / "data")) == 6


def test_escaping_member_name_raises(tmp_path: Path) -> None:
    from cnnopt.data.cifar import extract_archive

    _tar(tmp_path / "a.tar.gz", {"cifar-10-batches-py/../../../evil": b"x"})
    with pytest.raises(CnnoptError, match="outside the extraction folder"):
        extract_archive(tmp_path / "a.tar.gz", tmp_path / "out", "cifar-10-batches-py")
    assert not (tmp_path / "evil").exists()
