"""`cnnopt quantize` end to end on the bundled digits dataset, and its one-line errors."""

from __future__ import annotations

import json

import pytest

from cnnopt.cli import main


@pytest.fixture
def model_file(tmp_path) -> str:
    path = tmp_path / "net.py"
    path.write_text(
        "from torch import nn\n\n"
        "def build(num_classes=10, in_channels=1, **_):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32),\n"
        "                         nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(64, num_classes))\n"
    )
    return f"{path}:build"


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_quantize_happy_path(runtime, model_file, tmp_path, capsys) -> None:
    out = tmp_path / "q"
    argv = ["quantize", "--model", model_file, "--dataset", "digits", "--runtime", runtime]
    argv += ["--calibration", "entropy", "--calib-size", "64", "--limit", "100"]
    assert run_cli([*argv, "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload == json.loads((out / "quantize.json").read_text())
    assert 0 <= payload["quantized_accuracy"] <= 1 and 0 <= payload["float_accuracy"] <= 1
    assert payload["quantized_size_bytes"] < payload["float_size_bytes"]
    model_file_name = "model.onnx" if runtime == "onnxruntime" else "model.xml"
    assert (out / model_file_name).exists() and (out / "recipe.yaml").exists()
    assert "quantize" in (out / "recipe.yaml").read_text()


@pytest.mark.parametrize(
    "extra",
    [
        ["--mode", "int4"],
        ["--calibration", "kl"],
        ["--calib-size", "0"],
        ["--dataset", "no_such_data"],
        ["--mode", "bf16", "--runtime", "onnxruntime"],
    ],
)
def test_quantize_bad_input_exits_2(extra, model_file, tmp_path, capsys) -> None:
    argv = ["quantize", "--model", model_file, "--dataset", "digits", "--out", str(tmp_path / "o")]
    assert run_cli([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnopt: error:") and len(err.strip().splitlines()) == 1
