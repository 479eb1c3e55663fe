"""What a new user's model and workflow must get through: each test is a command line that was
refused (or silently wrong) before, run through the real CLI on the bundled digits set.

Users' architectures come from tests/user_archs.py; the refusals that must stay refusals are
in the bad-input catalogue (bad_input_cases.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bad_input_files import argparse_model
from test_bad_inputs import run_in_process, run_subprocess

import cnnopt
from cnnopt.errors import CnnoptError

USER_ARCHS = Path(__file__).resolve().parents[1] / "user_archs.py"
FUSE = "steps: [{transform: fuse}]\n"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNOPT_OFFLINE", "1")
    shutil.copy(USER_ARCHS, tmp_path / "user_archs.py")
    (tmp_path / "fuse.yaml").write_text(FUSE)
    return tmp_path


def test_a_model_that_repeats_grey_to_rgb_runs_on_1_channel_data(work: Path) -> None:
    """Its first conv takes 3 channels; the old first-conv guess refused digits (1 channel)."""
    argv = ["eval", "--json", "--model", "user_archs.py:repeat_to_rgb", "--dataset", "digits"]
    result = run_subprocess([*argv, "--limit", "40"], work)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["num_samples"] == 40


def test_bench_and_train_accept_it_too(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = ["--model", "user_archs.py:repeat_to_rgb"]
    bench = ["bench", "--json", *model, "--input", "1x16x16", "--max-seconds", "0.05"]
    code, out, err = run_in_process([*bench, "--no-memory", "--batch-sizes", "1"], capsys)
    assert code == 0, err
    assert json.loads(out)["input_shape"] == [1, 16, 16]
    train = ["train", "--json", *model, "--dataset", "digits", "--limit", "64", "--epochs", "1"]
    code, out, err = run_in_process([*train, "--threads", "1", "--out", "t"], capsys)
    assert code == 0, err
    assert json.loads(out)["train_images"] == 64
    # the checkpoint records 1x16x16, so prune without data keeps building for it (its first
    # conv says 3 channels) and bench of the result needs no --input
    code, out, err = run_in_process(["prune", "--json", "--model", "t", "--out", "p"], capsys)
    assert code == 0, err
    assert json.loads((work / "p" / "state.json").read_text())["input_shape"] == [1, 16, 16]
    code, out, err = run_in_process([*bench[:2], "--model", "p", *bench[6:], "--no-memory"], capsys)
    assert code == 0, err
    assert json.loads(out)["input_shape"] == [1, 16, 16]


def test_a_model_file_with_argparse_at_import_sees_no_cnnopt_flags(work: Path) -> None:
    """argparse in module scope used to read cnnopt's own argv and exit with its usage text."""
    argparse_model(work)
    argv = ["eval", "--json", "--model", "net.py:build", "--dataset", "digits", "--limit", "20"]
    result = run_subprocess(argv, work)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["num_samples"] == 20


def test_apply_builds_for_the_dataset_and_quantize_takes_its_output(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`apply --model resnet20` used to build an RGB model that quantize on grey data refused."""
    apply = ["apply", "--json", "--model", "resnet20", "--recipe", "fuse.yaml", "--out", "a"]
    code, out, err = run_in_process([*apply, "--dataset", "digits", "--limit", "64"], capsys)
    assert code == 0, err
    assert json.loads((work / "a" / "state.json").read_text())["input_shape"] == [1, 16, 16]
    quantize = ["quantize", "--json", "--model", "a", "--dataset", "digits", "--out", "q"]
    code, out, err = run_in_process([*quantize, "--limit", "64", "--calib-size", "64"], capsys)
    assert code == 0, err
    assert json.loads(out)["quantized_accuracy"] is not None


def test_apply_input_is_recorded_and_bench_reads_it(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply = ["apply", "--json", "--model", "lenet5", "--recipe", "fuse.yaml", "--out", "a"]
    code, out, err = run_in_process([*apply, "--input", "1x28x28"], capsys)
    assert code == 0, err
    assert json.loads(out)["input_shape"] == [1, 28, 28]
    bench = ["bench", "--json", "--model", "a", "--max-seconds", "0.05", "--no-memory"]
    code, out, err = run_in_process([*bench, "--batch-sizes", "1"], capsys)
    assert code == 0, err
    assert json.loads(out)["input_shape"] == [1, 28, 28]


def test_bench_int8_quantizes_a_float_model_with_the_dataset(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--model", "lenet5", "--dataset", "digits", "--runtime", "onnxruntime"]
    argv += ["--precision", "int8", "--batch-sizes", "1", "--max-seconds", "0.05", "--no-memory"]
    code, _, err = run_in_process([*argv, "--out", "bench.json"], capsys)
    assert code == 0, err
    said = [line for line in err.splitlines() if "on the fly" in line]
    assert len(said) == 1 and "calibrated on 512 digits training images" in said[0], err
    payload = json.loads((work / "bench.json").read_text())
    assert payload["input_shape"] == [1, 16, 16]
    assert [r["precision"] for r in payload["records"]] == ["int8"]  # the QDQ graph ran
    assert payload["quantized_on_the_fly"] == {
        "mode": "int8_static",
        "dataset": "digits",
        "images": 512,
    }


def test_python_api_refuses_a_model_with_the_wrong_class_count(work: Path) -> None:
    import user_archs

    train = cnnopt.load_dataset("digits", "train").take(64)
    val = cnnopt.load_dataset("digits", "val").take(32)
    model = user_archs.five_outputs(in_channels=1, num_classes=10)
    message = "outputs 5 classes but dataset 'digits' has 10"
    with pytest.raises(CnnoptError, match=message):
        cnnopt.train(model, (train, val), cnnopt.TrainConfig(epochs=1, progress=False))
    with pytest.raises(CnnoptError, match=message):
        cnnopt.optimize(model, train, val, out=work / "o", progress=False)
    assert not (work / "o").exists()


def test_python_api_refuses_a_time_budget_too_small_before_writing(work: Path) -> None:
    from cnnopt.search import Budget

    train = cnnopt.load_dataset("digits", "train").take(128)
    val = cnnopt.load_dataset("digits", "val").take(32)
    model = cnnopt.create_model("lenet5", num_classes=10, in_channels=1)
    budget = Budget(trials=2, time_budget_s=0.01)
    with pytest.raises(CnnoptError, match=r"too small: .* needs about \d+ s here") as info:
        cnnopt.optimize(model, train, val, budget=budget, out=work / "o", progress=False)
    assert "give at least --time-budget" in str(info.value)
    assert not (work / "o").exists()
