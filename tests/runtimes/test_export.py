"""Export writes complete, atomic, parity-checked artifacts; the CLI wraps it with clear errors."""

from __future__ import annotations

import onnx
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_helpers import TinyResNet
from safetensors.torch import load_file

from cnnopt.cli import main
from cnnopt.errors import CnnoptError
from cnnopt.runtimes.export import export_artifacts, export_onnx
from cnnopt.runtimes.parity import check_parity


def test_onnx_has_opset_17_and_a_symbolic_batch(trained_net, example, tmp_path) -> None:
    path = export_onnx(trained_net, example, tmp_path / "m.onnx")
    model = onnx.load(str(path))
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp files left


def test_old_opset_and_non_module_are_refused(trained_net, example, tmp_path) -> None:
    with pytest.raises(CnnoptError, match="opset"):
        export_onnx(trained_net, example, tmp_path / "m.onnx", opset=11)
    with pytest.raises(CnnoptError):
        export_onnx("resnet18", example, tmp_path / "m.onnx")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_failed_export_leaves_nothing(example, tmp_path) -> None:
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(CnnoptError, match="export failed"):
        export_onnx(Broken(), example, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "model_files"),
    [("onnx", ["model.onnx"]), ("openvino", ["model.xml", "model.bin"]), ("safetensors", [])],
)
def test_export_artifacts(fmt, model_files, trained_net, example, tmp_path) -> None:
    recipe = [{"transform": "fuse"}]
    result = export_artifacts(trained_net, tmp_path, example, recipe=recipe, runtime=fmt)
    expected = [*model_files, "weights.safetensors", "recipe.yaml"]
    assert result.files == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    if model_files:
        assert result.parity["passed"] and result.parity["top1_agreement"] == 1.0
    fresh = TinyResNet()
    fresh.load_state_dict(load_file(str(tmp_path / "weights.safetensors")))
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), trained_net(x))
    assert yaml.safe_load((tmp_path / "recipe.yaml").read_text())["steps"] == recipe


def test_unknown_export_target(trained_net, example, tmp_path) -> None:
    with pytest.raises(CnnoptError, match="cannot export"):
        export_artifacts(trained_net, tmp_path, example, runtime="tensorrt")


def test_parity_failure_is_flagged_and_raised(trained_net, val_inputs) -> None:
    def wrong(x: torch.Tensor) -> torch.Tensor:
        return -trained_net(x)

    result = check_parity(trained_net, wrong, val_inputs)
    assert not result["passed"] and result["top1_agreement"] < 0.5
    with pytest.raises(CnnoptError, match="parity check failed"):
        check_parity(trained_net, wrong, val_inputs, raise_on_fail=True)


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 6), noise=st.floats(0, 1e-6))
def test_parity_of_tiny_noise_passes(trained, batch: int, noise: float) -> None:
    model = trained[0]
    x = torch.randn(batch, 1, 16, 16, generator=torch.Generator().manual_seed(batch))

    def nearly(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(inputs) + noise

    result = check_parity(model, nearly, x)
    assert result["passed"] and result["max_abs_diff"] <= noise + 1e-6 and result["n"] == batch


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(
        "from torch import nn\n\n"
        "def build(num_classes=10, in_channels=1, **_):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8),\n"
        "                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(8, num_classes))\n"
    )
    return f"{path}:build"


def test_cli_export_happy_path(model_file, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["export", "--model", model_file, "--input", "1x12x12", "--out", str(out)])
    assert code == 0
    assert (out / "model.onnx").exists() and (out / "weights.safetensors").exists()
    assert "top-1 agreement 100.0%" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--model", "no_such_net", "--input", "1x12x12", "--out", "x"],
        ["export", "--model", "MODEL", "--input", "1x12", "--out", "x"],
        ["export", "--model", "MODEL", "--input", "1x12x12", "--out", "x", "--opset", "11"],
        ["export", "--model", "MODEL", "--input", "1x12x12", "--format", "tflite", "--out", "x"],
    ],
)
def test_cli_export_bad_input_exits_2(argv, model_file, tmp_path, capsys) -> None:
    argv = [model_file if a == "MODEL" else str(tmp_path / a) if a == "x" else a for a in argv]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnopt: error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def run_cli(argv: list[str]) -> int:
    """main() returns 2 for CnnoptError; argparse exits with 2 for malformed flags."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)
