"""A model built for 28x28 (tests/user_archs.py:flat_28x28, a Linear after the flatten) on the
16x16 digits: refused everywhere before, now trained, pruned, quantized and evaluated with
`--image-size 28`, and pruned without data with `--input 1x28x28`. Checkpoints record the
shape, so later commands need the flag no more.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from test_bad_inputs import run_in_process

from cnnopt.data import load_dataset

USER_ARCHS = Path(__file__).resolve().parents[1] / "user_archs.py"
MODEL = "user_archs.py:flat_28x28"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNOPT_OFFLINE", "1")
    shutil.copy(USER_ARCHS, tmp_path / "user_archs.py")
    return tmp_path


def cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = run_in_process([*argv, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def recorded_shape(directory: Path) -> list[int]:
    return json.loads((directory / "state.json").read_text())["input_shape"]


def test_a_28x28_model_trains_prunes_and_evaluates_on_digits(work: Path, capsys) -> None:
    train = ["train", "--model", MODEL, "--dataset", "digits", "--image-size", "28"]
    metrics = cli_json([*train, "--epochs", "2", "--threads", "1", "--out", "t"], capsys)
    assert metrics["input_shape"] == [1, 28, 28] and recorded_shape(work / "t") == [1, 28, 28]
    assert metrics["test_acc"] > 0.5  # it learned digits at 28x28, not just ran

    # prune with data: the checkpoint's recorded 28x28 is the size, no flag needed
    pruned = cli_json(["prune", "--model", "t", "--dataset", "digits", "--out", "p"], capsys)
    assert pruned["after"]["params"] < pruned["before"]["params"]
    assert recorded_shape(work / "p") == [1, 28, 28]

    evaluate = ["eval", "--model", "p", "--dataset", "digits"]
    evaluated = cli_json([*evaluate, "--image-size", "28"], capsys)
    assert evaluated["input_shape"] == [1, 28, 28] and evaluated["num_samples"] == 359
    assert cli_json(evaluate, capsys)["accuracy"] == evaluated["accuracy"]  # recorded size

    # the same split at 28x28 through Python's load_dataset gives the numbers eval printed
    val = load_dataset("digits", "test", image_size=28)
    assert val.input_shape == (1, 28, 28) and len(val) == evaluated["num_samples"]


def test_prune_and_quantize_without_a_dataset_take_the_input_shape(work: Path, capsys) -> None:
    argv = ["prune", "--model", MODEL, "--input", "1x28x28", "--ratio", "0.5", "--out", "p"]
    pruned = cli_json(argv, capsys)
    assert pruned["input_shape"] == [1, 28, 28] and recorded_shape(work / "p") == [1, 28, 28]
    argv = ["quantize", "--model", MODEL, "--input", "1x28x28", "--mode", "int8_dynamic"]
    quantized = cli_json([*argv, "--out", "q"], capsys)
    assert quantized["input_shape"] == [1, 28, 28] and "model.onnx" in quantized["files"]
    assert quantized["float_accuracy"] is None  # no data, no accuracy: not a made-up number
    bench = ["bench", "--model", "q/model.onnx", "--runtime", "onnxruntime", "--input", "1x28x28"]
    timed = cli_json([*bench, "--batch-sizes", "1,3", "--max-seconds", "0.05"], capsys)
    assert [r["batch_size"] for r in timed["records"]] == [1, 3]


def test_load_dataset_resizes_every_split_once_and_keeps_the_statistics() -> None:
    """A dataset without a size option of its own (synthetic) is resized after loading."""
    options = {"shape": (3, 12, 12), "size": 64}
    plain = load_dataset("synthetic", "train", **options)
    bigger = {s: load_dataset("synthetic", s, image_size="20x24", **options) for s in
              ("train", "val", "test")}  # fmt: skip
    assert {d.input_shape for d in bigger.values()} == {(3, 20, 24)}
    assert len(bigger["train"]) == len(plain) and bigger["train"].images.dtype == torch.uint8
    assert bigger["val"].mean == bigger["test"].mean == bigger["train"].mean  # train's stats
    assert bigger["train"].mean == pytest.approx(plain.mean, abs=0.01)
    assert bigger["val"].extra["image_size"] == [20, 24]
    # bilinear resizing keeps each image's content: the mean brightness barely moves
    means = bigger["train"].images.float().mean((1, 2, 3)) - plain.images.float().mean((1, 2, 3))
    assert float(means.abs().max()) < 3.0
