"""The NumPy engine: export from torch, run with NumPy alone, agree with PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.kernels import NumpyEngine, export_numpy


class Block(nn.Module):
    """A ResNet basic block with a `shortcut` module, like the zoo's."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def tiny_resnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        Block(8, 8, 1),
        Block(8, 16, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def tiny_vgg() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 8, 5, padding=2, groups=2),
        nn.ReLU(),
        nn.AvgPool2d(3, 2, 1),
        nn.BatchNorm2d(8),  # after a pool: cannot be folded, runs as a per-channel affine
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(8 * 4 * 4, 10),
    )


def _randomize_bn(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.rand(module.num_features, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
    return model.eval()


@pytest.mark.parametrize("factory", [tiny_resnet, tiny_vgg])
@pytest.mark.parametrize("algorithm", ["auto", "im2col", "winograd", "winograd4", "fft"])
def test_engine_matches_torch_on_own_models(tmp_path, factory, algorithm):
    model = _randomize_bn(factory())
    export_numpy(model, tmp_path, (1, 15, 15))
    engine = NumpyEngine.load(tmp_path, algorithm=algorithm)
    x = torch.randn(5, 1, 15, 15)
    with torch.no_grad():
        expected = model(x).numpy()
    got = engine(x.numpy())
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    # the residual BN layers were folded into their convs: no affine node left for them
    graph = json.loads((tmp_path / "graph.json").read_text())
    affine = [n for n in graph["nodes"] if n["op"] == "affine_channel"]
    assert len(affine) == (1 if factory is tiny_vgg else 0)
    assert all("batchnorm" not in n["op"] for n in graph["nodes"])


def _train_briefly(model: nn.Module, data, steps: int = 60) -> nn.Module:
    x, y = data.tensors()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(y), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "vgg11_bn", "resnet18"])
def test_zoo_model_agrees_with_torch_on_the_digits_test_set(tmp_path, name):
    models = pytest.importorskip("cnnopt.models")
    data_module = pytest.importorskip("cnnopt.data")
    train = data_module.load_dataset("digits", "train")
    test = data_module.load_dataset("digits", "test")
    model = models.create_model(name, num_classes=10, in_channels=1)
    if name in ("lenet5", "resnet20"):  # trained: agreement on real predictions
        model = _train_briefly(model, train, steps=60 if name == "lenet5" else 25)
    model = _randomize_bn(model) if name in ("vgg11_bn", "resnet18") else model.eval()
    x, _ = test.tensors()
    if name != "lenet5":
        x = x[: 128 if name == "resnet20" else 64]  # deeper models: a subset keeps it fast
    export_numpy(model, tmp_path, tuple(x.shape[1:]))
    engine = NumpyEngine.load(tmp_path)
    with torch.no_grad():
        expected = model(x).numpy()
    got = engine(x.numpy())
    agreement = (got.argmax(1) == expected.argmax(1)).mean()
    assert agreement >= 0.99
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(got - expected).max() / scale < 1e-4


def test_engine_module_never_imports_torch(tmp_path):
    model = _randomize_bn(tiny_resnet())
    export_numpy(model, tmp_path)
    code = (
        "import sys, numpy as np\n"
        "from cnnopt.kernels.engine import NumpyEngine\n"
        f"e = NumpyEngine.load({str(tmp_path)!r})\n"
        "out = e(np.zeros((2, 1, 9, 9), np.float32))\n"
        "assert out.shape == (2, 10), out.shape\n"
        "assert 'torch' not in sys.modules, 'engine pulled in torch'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_profile_and_algorithm_choices_report_every_conv(tmp_path):
    export_numpy(_randomize_bn(tiny_resnet()), tmp_path)
    engine = NumpyEngine.load(tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 1, 12, 12), dtype=np.float32)
    rows = engine.profile(x, repeats=2)
    convs = [r for r in rows if r["op"] == "conv2d"]
    assert len(convs) == 6 and all(
        r["algorithm"] in ("im2col", "winograd", "winograd4", "fft") for r in convs
    )
    assert all(r["ms"] >= 0 for r in rows)
    assert len(engine.algorithm_choices()) == 6


class Unsupported(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


def test_unsupported_ops_and_bad_files_are_explained(tmp_path):
    with pytest.raises(CnnoptError, match="cannot run sigmoid") as info:
        export_numpy(Unsupported(), tmp_path / "bad")
    assert "supported" in info.value.hint
    with pytest.raises(CnnoptError, match=r"does not hold graph\.json"):
        NumpyEngine.load(tmp_path / "nowhere")
    export_numpy(tiny_resnet().eval(), tmp_path / "ok")
    (tmp_path / "ok" / "graph.json").write_text('{"format": "other"}')
    with pytest.raises(CnnoptError, match="not a cnnopt-numpy"):
        NumpyEngine.load(tmp_path / "ok")
    export_numpy(tiny_resnet().eval(), tmp_path / "ok2")
    with pytest.raises(CnnoptError, match="batch"):
        NumpyEngine.load(tmp_path / "ok2")(np.zeros((1, 9, 9), np.float32))
    with pytest.raises(CnnoptError, match="unknown conv algorithm"):
        NumpyEngine.load(tmp_path / "ok2", algorithm="fastest")
