"""From the command line: `cnnopt optimize` restricted to int8 on ONNX Runtime, then
`cnnopt apply --recipe best/recipe.yaml --model <run>/baseline --dataset digits` in a fresh
directory rebuilds the recommended int8 artifact (recipe, accuracy and outputs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from cnnopt.cli import main

ort = pytest.importorskip("onnxruntime")


def _outputs(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_apply_of_best_recipe_rebuilds_the_int8_artifact(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    argv = [
        "optimize", "--model", "lenet5", "--dataset", "digits", "--train-subset", "300",
        "--runtime", "onnxruntime", "--precision", "int8", "--prune-ratios", "0",
        "--trials", "1", "--no-robustness", "--baseline-epochs", "2", "--no-progress",
        "--json", "--out", str(run),
    ]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((run / "best" / "record.json").read_text())
    assert record["precision"] == "int8"
    recipe = yaml.safe_load((run / "best" / "recipe.yaml").read_text())
    target = recipe["target"]  # (a) not `steps: []` and nothing else
    assert (target["runtime"], target["precision"]) == ("onnxruntime", "int8")
    assert target["quantize"]["mode"] == "int8_static" and target["calibration"]["sha256"]
    assert recipe["data"]["train_images"] == 300

    capsys.readouterr()
    rebuilt = tmp_path / "fresh" / "rebuilt"
    recipe_file, base = str(run / "best" / "recipe.yaml"), str(run / "baseline")
    argv = ["apply", "--recipe", recipe_file, "--model", base, "--dataset", "digits"]
    assert main([*argv, "--out", str(rebuilt), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    artifact = metrics["artifact"]
    assert artifact["precision"] == "int8" and "model.onnx" in artifact["files"]
    assert abs(artifact["accuracy"] - record["accuracy"]) <= 0.01  # (b) within one point
    from cnnopt.data import load_dataset

    val = load_dataset("digits", split="val")
    x = val.normalize(val.images).numpy()
    ours = _outputs(rebuilt / "model.onnx", x)
    theirs = _outputs(run / "best" / "model.onnx", x)
    assert (ours.argmax(1) == theirs.argmax(1)).mean() >= 0.99  # (c) the same artifact
    np.testing.assert_allclose(ours, theirs, atol=0.05 * float(np.abs(theirs).max()))
