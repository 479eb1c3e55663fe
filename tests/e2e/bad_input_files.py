"""Broken inputs written byte by byte: damaged IDX/gzip files, hostile pickles and archives,
tampered checkpoints, and a model file whose loss turns NaN on purpose.

Each builder takes the test's working directory (and the trained checkpoint where it needs
one) and leaves the broken thing where the catalogue's command line expects it.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import torch
from idx_format import IDX_NAMES as MNIST_NAMES
from idx_format import IMAGES, LABELS, idx_bytes


def mnist_dir(directory: Path, n_train: int = 20, n_test: int = 10) -> Path:
    """Four valid 28x28 IDX files; the builders below then break one of them."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": (rng.integers(0, 256, (n_train, 28, 28)), IMAGES),
        "train_labels": (np.arange(n_train) % 10, LABELS),
        "test_images": (rng.integers(0, 256, (n_test, 28, 28)), IMAGES),
        "test_labels": (np.arange(n_test) % 10, LABELS),
    }
    for key, (array, magic) in arrays.items():
        (directory / MNIST_NAMES[key]).write_bytes(idx_bytes(array, magic))
    return directory


def _train(directory: Path, key: str) -> Path:
    return directory / MNIST_NAMES[key]


def idx_bad_magic(work: Path, ckpt: Path) -> None:
    d = mnist_dir(work / "mnist")
    _train(d, "train_images").write_bytes(idx_bytes(np.zeros((20, 28, 28)), LABELS))


def idx_truncated(work: Path, ckpt: Path) -> None:
    d = mnist_dir(work / "mnist")
    path = _train(d, "train_images")
    path.write_bytes(path.read_bytes()[:-100])


def idx_truncated_gzip(work: Path, ckpt: Path) -> None:
    d = mnist_dir(work / "mnist")
    raw = _train(d, "train_images")
    packed = gzip.compress(raw.read_bytes())
    raw.unlink()
    raw.with_name(raw.name + ".gz").write_bytes(packed[: len(packed) // 2])


def idx_wrong_label_count(work: Path, ckpt: Path) -> None:
    d = mnist_dir(work / "mnist")
    _train(d, "train_labels").write_bytes(idx_bytes(np.arange(19) % 10, LABELS))


def idx_label_out_of_range(work: Path, ckpt: Path) -> None:
    d = mnist_dir(work / "mnist")
    _train(d, "train_labels").write_bytes(idx_bytes(np.arange(20) % 12, LABELS))


def empty_image_folder(work: Path, ckpt: Path) -> None:
    for name in ("cat", "dog"):
        (work / "images" / name).mkdir(parents=True)


def folder_without_classes(work: Path, ckpt: Path) -> None:
    (work / "images").mkdir()
    (work / "images" / "loose.png").write_bytes(b"not sorted into classes")


def corrupt_image(work: Path, ckpt: Path) -> None:
    from PIL import Image

    for name in ("cat", "dog"):
        (work / "images" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), color=40 * i).save(work / "images" / name / f"{i}.png")
    (work / "images" / "dog" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")


# --- checkpoints -------------------------------------------------------------------------


def copy_checkpoint(work: Path, ckpt: Path) -> Path:
    return Path(shutil.copytree(ckpt, work / "ckpt"))


def ckpt_corrupt_safetensors(work: Path, ckpt: Path) -> None:
    (copy_checkpoint(work, ckpt) / "best.safetensors").write_bytes(b"\0" * 64)


def ckpt_truncated_state(work: Path, ckpt: Path) -> None:
    state = copy_checkpoint(work, ckpt) / "state.json"
    state.write_text(state.read_text()[:40])


def ckpt_without_state(work: Path, ckpt: Path) -> None:
    (copy_checkpoint(work, ckpt) / "state.json").unlink()


def ckpt_other_weights(work: Path, ckpt: Path) -> None:
    """best.safetensors replaced by weights of another architecture (a copy from another run)."""
    from cnnopt.models import create_model
    from cnnopt.serialize import save_weights

    target = copy_checkpoint(work, ckpt)
    step = json.loads((target / "state.json").read_text())["step"]
    other = create_model("fmnist_net", num_classes=10, in_channels=1, width=0.25)
    save_weights(target / "best.safetensors", other, step)


def ckpt_escaping_path(work: Path, ckpt: Path) -> None:
    target = copy_checkpoint(work, ckpt)
    state = json.loads((target / "state.json").read_text())
    state["best_weights"] = "../../outside.safetensors"
    (target / "state.json").write_text(json.dumps(state))


# --- pickles ----------------------------------------------------------------------------


class _RunsCode:
    """Unpickling this runs `touch PWNED`: what a hostile pickle file does."""

    def __reduce__(self):  # pickle calls this to learn how to rebuild the object
        import os

        return (os.system, ("touch PWNED",))


def pickled_module(work: Path, ckpt: Path) -> None:
    from cnnopt.models import create_model

    torch.save(create_model("lenet5", 10, 1), work / "whole.pt")


def pickled_state_dict(work: Path, ckpt: Path) -> None:
    from cnnopt.serialize import load_model

    torch.save({"state_dict": load_model(ckpt).state_dict()}, work / "weights.pth")


def pickled_garbage(work: Path, ckpt: Path) -> None:
    (work / "weights.pt").write_bytes(b"definitely not a torch file")


def pickled_code(work: Path, ckpt: Path) -> None:
    (work / "evil.pt").write_bytes(pickle.dumps(_RunsCode(), protocol=2))


def cifar_code(work: Path, ckpt: Path) -> None:
    """A CIFAR-10 folder whose batches would run a command when unpickled naively."""
    folder = work / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({b"data": _RunsCode()}, protocol=2))


def cifar_escaping_archive(work: Path, ckpt: Path) -> None:
    """A CIFAR-10 archive with a member that climbs out of the extraction folder."""
    (work / "cifar").mkdir()
    with tarfile.open(work / "cifar" / "cifar-10-python.tar.gz", "w:gz") as tar:
        payload = b"escaped"
        info = tarfile.TarInfo("cifar-10-batches-py/../../../ESCAPED")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))


# --- user model files -------------------------------------------------------------------

NAN_MODEL = '''
import torch
from torch import nn


class GoesNaN(nn.Module):
    """Trains normally for `after` steps, then its logits (and so the loss) become NaN."""

    def __init__(self, num_classes, in_channels, after):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(4, num_classes),
        )
        self.after, self.calls = after, 0

    def forward(self, x):
        out = self.body(x)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                out = out * float("nan")
        return out


def build(num_classes=10, in_channels=1):
    return GoesNaN(num_classes, in_channels, after=AFTER)
'''


def nan_model_file(work: Path, after: int) -> Path:
    path = work / "goes_nan.py"
    path.write_text(NAN_MODEL.replace("AFTER", str(after)))
    return path


def syntax_error_model(work: Path, ckpt: Path) -> None:
    (work / "net.py").write_text("def build(:\n    pass\n")


def plain_model_file(work: Path, ckpt: Path) -> None:
    (work / "net.py").write_text(
        "from torch import nn\n\ndef build():\n    return nn.Linear(2, 2)\n"
    )


def recipe(text: str):
    """A builder writing `recipe.yaml` with `text` (bytes are written as they are)."""

    def build(work: Path, ckpt: Path) -> None:
        data = text if isinstance(text, bytes) else text.encode()
        (work / "recipe.yaml").write_bytes(data)

    return build


def out_under_a_file(work: Path, ckpt: Path) -> None:
    (work / "afile").write_text("a file, not a folder")


def exiting_factory(work: Path, ckpt: Path) -> None:
    """A factory that gives up with sys.exit() (rc 1 and no message, before)."""
    (work / "net.py").write_text("import sys\n\ndef build(num_classes=10):\n    sys.exit()\n")


ARGPARSE_MODEL = """import argparse

from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
REQUIRED
args = parser.parse_args()  # at import time: a training script turned into a model file


def build(num_classes=10, in_channels=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, num_classes),
    )
"""


def argparse_model(work: Path, ckpt: Path | None = None, required: bool = False) -> Path:
    """net.py parsing sys.argv at import; with `required` it needs a flag nobody passes."""
    flag = 'parser.add_argument("--data", required=True)' if required else ""
    path = work / "net.py"
    path.write_text(ARGPARSE_MODEL.replace("REQUIRED", flag))
    return path


def argparse_required_model(work: Path, ckpt: Path) -> None:
    argparse_model(work, ckpt, required=True)


def user_archs(work: Path, ckpt: Path) -> None:
    """tests/user_archs.py (the users' own architectures) in the working directory."""
    shutil.copy(Path(__file__).resolve().parents[1] / "user_archs.py", work / "user_archs.py")


def user_archs_and_recipe(work: Path, ckpt: Path) -> None:
    user_archs(work, ckpt)
    recipe("steps: [{transform: fuse}]\n")(work, ckpt)
