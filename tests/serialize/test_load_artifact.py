"""`cnnopt.load(directory)`: a saved artifact directory served again from its own files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnnopt
from cnnopt.errors import CnnoptError
from cnnopt.models import create_model
from cnnopt.recipe import Recipe, save_applied
from cnnopt.runtimes import export_artifacts

X = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
SHAPE = {"input_shape": [1, 28, 28]}  # what best/ and `cnnopt apply` record


def save(directory: Path, runtime: str, precision: str = "fp32") -> torch.nn.Module:
    model = create_model("lenet5", num_classes=10, in_channels=1).eval()
    target = cnnopt.LoweringTarget(runtime=runtime, precision=precision, batch_size=2)
    if runtime != "eager":
        export_artifacts(model, directory, X, runtime=runtime)
    save_applied(directory, model, Recipe([], target=target), SHAPE, example_input=X)
    return model


def test_an_eager_directory_serves_its_checkpoint(tmp_path: Path) -> None:
    model = save(tmp_path, "eager")
    loaded = cnnopt.load(tmp_path)
    assert loaded.target.runtime == "eager" and loaded.files == []
    with torch.no_grad():
        torch.testing.assert_close(loaded.predictor(X), model(X), rtol=0, atol=1e-6)
        torch.testing.assert_close(loaded.model(X), model(X), rtol=0, atol=1e-6)


def test_an_onnx_directory_serves_its_own_file(tmp_path: Path) -> None:
    model = save(tmp_path, "onnxruntime")
    loaded = cnnopt.load(tmp_path)
    assert loaded.predictor.artifact_path == tmp_path / "model.onnx"
    with torch.no_grad():
        torch.testing.assert_close(loaded.predictor(X), model(X), rtol=1e-4, atol=1e-4)


def test_a_float_directory_cannot_pretend_to_be_int8_on_eager(tmp_path: Path) -> None:
    save(tmp_path, "eager", precision="int8")
    with pytest.raises(CnnoptError, match="calibration images"):
        cnnopt.load(tmp_path)
